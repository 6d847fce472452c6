import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GpuVendor } from '@gpufleet/protocol';
import { containerGpuAccess, type GpuAccessOptions } from './container-gpu-access.js';
import type { ExecutorGpu } from './executor.js';
import { gpuVisibilityEnv } from './gpu-visibility.js';
import { renderNodeOf, sysfsBdf } from './render-nodes.js';

/** How each vendor's GPUs are shown to a workload: environment (host and container) and container devices. */

function gpu(vendor: GpuVendor, index: number, uuid: string | null = `GPU-${vendor}-${index}`, pciBusId: string | null = null): ExecutorGpu {
  return { vendor, index, uuid, pciBusId };
}

describe('gpuVisibilityEnv', () => {
  const cases: [string, ExecutorGpu[], 'host' | 'container', Record<string, string>][] = [
    ['no GPUs', [], 'host', {}],
    [
      'NVIDIA on the host: UUIDs, PCI order',
      [gpu('nvidia', 2), gpu('nvidia', 5)],
      'host',
      { CUDA_VISIBLE_DEVICES: 'GPU-nvidia-2,GPU-nvidia-5', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' },
    ],
    [
      'NVIDIA on the host without UUIDs: indexes',
      [gpu('nvidia', 2, null), gpu('nvidia', 5)],
      'host',
      { CUDA_VISIBLE_DEVICES: '2,5', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' },
    ],
    [
      'NVIDIA in a container: the runtime variable, UUIDs',
      [gpu('nvidia', 3)],
      'container',
      { NVIDIA_VISIBLE_DEVICES: 'GPU-nvidia-3', CUDA_VISIBLE_DEVICES: 'GPU-nvidia-3', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' },
    ],
    [
      'NVIDIA in a container without UUIDs: no CUDA index (it would be renumbered)',
      [gpu('nvidia', 3, null)],
      'container',
      { NVIDIA_VISIBLE_DEVICES: '3', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' },
    ],
    [
      'AMD on the host: ROCr by host index, HIP counts from 0 within it',
      [gpu('amd', 1), gpu('amd', 3)],
      'host',
      { ROCR_VISIBLE_DEVICES: '1,3', HIP_VISIBLE_DEVICES: '0,1' },
    ],
    [
      'AMD in a container: only its render nodes exist, numbered from 0',
      [gpu('amd', 1), gpu('amd', 3)],
      'container',
      { ROCR_VISIBLE_DEVICES: '0,1', HIP_VISIBLE_DEVICES: '0,1' },
    ],
    ['Intel on the host', [gpu('intel', 0), gpu('intel', 2)], 'host', { ZE_AFFINITY_MASK: '0,2' }],
    ['Intel in a container', [gpu('intel', 2)], 'container', { ZE_AFFINITY_MASK: '0' }],
    ['Ascend on the host', [gpu('huawei', 4, null), gpu('huawei', 6, null)], 'host', { ASCEND_RT_VISIBLE_DEVICES: '4,6' }],
    ['Ascend in a container', [gpu('huawei', 4, null)], 'container', { ASCEND_VISIBLE_DEVICES: '4', ASCEND_RT_VISIBLE_DEVICES: '0' }],
    [
      'two vendors at once: each gets its own variables',
      [gpu('nvidia', 0), gpu('amd', 1)],
      'host',
      { CUDA_VISIBLE_DEVICES: 'GPU-nvidia-0', CUDA_DEVICE_ORDER: 'PCI_BUS_ID', ROCR_VISIBLE_DEVICES: '1', HIP_VISIBLE_DEVICES: '0' },
    ],
  ];
  for (const [what, gpus, where, env] of cases) {
    it(what, () => expect(gpuVisibilityEnv(gpus, where)).toEqual(env));
  }
});

describe('containerGpuAccess', () => {
  const render = (g: ExecutorGpu) => `/dev/dri/renderD${200 + g.index}`;
  const cases: [string, ExecutorGpu[], GpuAccessOptions, unknown][] = [
    ['no GPUs: nothing', [], { engine: 'docker' }, { devices: [], deviceRequests: [] }],
    [
      'NVIDIA on Docker: a device request of the nvidia driver, by UUID',
      [gpu('nvidia', 0), gpu('nvidia', 1)],
      { engine: 'docker' },
      { devices: [], deviceRequests: [{ Driver: 'nvidia', DeviceIDs: ['GPU-nvidia-0', 'GPU-nvidia-1'], Capabilities: [['gpu']] }] },
    ],
    [
      'NVIDIA on Docker without UUIDs: by index',
      [gpu('nvidia', 4, null)],
      { engine: 'docker' },
      { devices: [], deviceRequests: [{ Driver: 'nvidia', DeviceIDs: ['4'], Capabilities: [['gpu']] }] },
    ],
    [
      'NVIDIA with CDI on Docker: the cdi driver with qualified names',
      [gpu('nvidia', 0)],
      { engine: 'docker', nvidia: 'cdi' },
      { devices: [], deviceRequests: [{ Driver: 'cdi', DeviceIDs: ['nvidia.com/gpu=GPU-nvidia-0'], Capabilities: [] }] },
    ],
    [
      'NVIDIA on Podman: CDI names as devices (its API ignores device requests)',
      [gpu('nvidia', 0)],
      { engine: 'podman' },
      {
        devices: [{ PathOnHost: 'nvidia.com/gpu=GPU-nvidia-0', PathInContainer: 'nvidia.com/gpu=GPU-nvidia-0', CgroupPermissions: 'rwm' }],
        deviceRequests: [],
      },
    ],
    [
      'AMD: /dev/kfd once, and each render node',
      [gpu('amd', 0), gpu('amd', 1)],
      { engine: 'docker', renderNode: render },
      {
        devices: [
          { PathOnHost: '/dev/kfd', PathInContainer: '/dev/kfd', CgroupPermissions: 'rwm' },
          { PathOnHost: '/dev/dri/renderD200', PathInContainer: '/dev/dri/renderD200', CgroupPermissions: 'rwm' },
          { PathOnHost: '/dev/dri/renderD201', PathInContainer: '/dev/dri/renderD201', CgroupPermissions: 'rwm' },
        ],
        deviceRequests: [],
      },
    ],
    [
      'Intel: each render node',
      [gpu('intel', 1)],
      { engine: 'podman', renderNode: render },
      { devices: [{ PathOnHost: '/dev/dri/renderD201', PathInContainer: '/dev/dri/renderD201', CgroupPermissions: 'rwm' }], deviceRequests: [] },
    ],
    [
      'Ascend: each davinci device and the shared management devices',
      [gpu('huawei', 2, null), gpu('huawei', 5, null)],
      { engine: 'docker' },
      {
        devices: ['/dev/davinci2', '/dev/davinci5', '/dev/davinci_manager', '/dev/devmm_svm', '/dev/hisi_hdc'].map((p) => ({
          PathOnHost: p,
          PathInContainer: p,
          CgroupPermissions: 'rwm',
        })),
        deviceRequests: [],
      },
    ],
  ];
  for (const [what, gpus, opts, expected] of cases) {
    it(what, () => expect(containerGpuAccess(gpus, opts)).toEqual(expected));
  }
});

describe('render nodes', () => {
  const sys = mkdtempSync(join(tmpdir(), 'gpufleet-sysfs-'));
  afterAll(() => rmSync(sys, { recursive: true, force: true }));

  it('normalizes PCI addresses as the vendor tools print them', () => {
    expect(sysfsBdf('00000000:3B:00.0')).toBe('0000:3b:00.0');
    expect(sysfsBdf('0000:c1:00.0')).toBe('0000:c1:00.0');
    expect(sysfsBdf('3b:00.0')).toBe('0000:3b:00.0');
    for (const bad of ['', 'GPU-1', '0000:3b:00', '../../etc:00.0', '0000:zz:00.0']) expect(sysfsBdf(bad), bad).toBeNull();
  });

  it("reads the render node from the GPU's PCI device in sysfs, else guesses 128 + index", () => {
    mkdirSync(join(sys, 'sys/bus/pci/devices/0000:c1:00.0/drm/card1'), { recursive: true });
    mkdirSync(join(sys, 'sys/bus/pci/devices/0000:c1:00.0/drm/renderD129'), { recursive: true });
    expect(renderNodeOf({ index: 0, pciBusId: '00000000:C1:00.0' }, sys)).toBe('/dev/dri/renderD129');
    expect(renderNodeOf({ index: 3, pciBusId: '0000:c2:00.0' }, sys)).toBe('/dev/dri/renderD131');
    expect(renderNodeOf({ index: 1, pciBusId: null }, sys)).toBe('/dev/dri/renderD129');
  });
});
