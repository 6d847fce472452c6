import type { ExecutorGpu } from './executor.js';
import { renderNodeOf } from './render-nodes.js';

/** HostConfig.Devices entry of the Docker Engine API. */
export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** HostConfig.DeviceRequests entry of the Docker Engine API (Docker 19.03+). */
export interface DeviceRequest {
  Driver: string;
  DeviceIDs: string[];
  Capabilities: string[][];
}

/** Which engine serves the Docker Engine API: they take CDI device names in different fields. */
export type EngineKind = 'docker' | 'podman';

/**
 * How NVIDIA GPUs reach a container. `device-requests`: Docker with the NVIDIA Container Toolkit
 * (what `docker run --gpus '"device=..."'` sends). `cdi`: Container Device Interface names
 * (`nvidia.com/gpu=<uuid>`, from `nvidia-ctk cdi generate`): Docker 25+ takes them as a device
 * request of the `cdi` driver, Podman as device paths (Podman's compatible API ignores device
 * requests).
 */
export type NvidiaPassthrough = 'device-requests' | 'cdi';

export interface ContainerGpuAccess {
  devices: DeviceMapping[];
  deviceRequests: DeviceRequest[];
}

export interface GpuAccessOptions {
  engine: EngineKind;
  /** Default: `device-requests` on Docker, `cdi` on Podman. */
  nvidia?: NvidiaPassthrough;
  /** A GPU's DRM render node (AMD, Intel). Default: renderNodeOf (sysfs, then 128 + index). */
  renderNode?: (gpu: ExecutorGpu) => string;
}

const same = (path: string): DeviceMapping => ({ PathOnHost: path, PathInContainer: path, CgroupPermissions: 'rwm' });

/** The device ids NVIDIA's tools take: UUIDs when every GPU has one (stable across reboots), else indexes. */
function nvidiaIds(gpus: readonly ExecutorGpu[]): string[] {
  return gpus.every((g) => g.uuid) ? gpus.map((g) => g.uuid!) : gpus.map((g) => String(g.index));
}

/**
 * The devices a container needs for its GPUs, the way each vendor documents it. The visibility
 * variables that go with them are gpuVisibilityEnv(gpus, 'container').
 *
 * - NVIDIA: see NvidiaPassthrough.
 * - AMD (ROCm): /dev/kfd (shared by all GPUs) and each GPU's /dev/dri/renderD<N>; a container
 *   without a GPU's render node cannot use that GPU.
 * - Intel: each GPU's /dev/dri/renderD<N>.
 * - Ascend (huawei): /dev/davinci<N> per NPU plus the shared /dev/davinci_manager,
 *   /dev/devmm_svm and /dev/hisi_hdc.
 */
export function containerGpuAccess(gpus: readonly ExecutorGpu[], o: GpuAccessOptions): ContainerGpuAccess {
  const devices: DeviceMapping[] = [];
  const deviceRequests: DeviceRequest[] = [];
  const renderNode = o.renderNode ?? ((g: ExecutorGpu) => renderNodeOf(g));
  const add = (path: string) => {
    if (!devices.some((d) => d.PathOnHost === path)) devices.push(same(path));
  };
  const nvidia = gpus.filter((g) => g.vendor === 'nvidia');
  if (nvidia.length > 0) {
    const mode = o.nvidia ?? (o.engine === 'podman' ? 'cdi' : 'device-requests');
    const ids = nvidiaIds(nvidia);
    if (mode === 'device-requests') deviceRequests.push({ Driver: 'nvidia', DeviceIDs: ids, Capabilities: [['gpu']] });
    else if (o.engine === 'docker') deviceRequests.push({ Driver: 'cdi', DeviceIDs: ids.map((id) => `nvidia.com/gpu=${id}`), Capabilities: [] });
    else for (const id of ids) add(`nvidia.com/gpu=${id}`);
  }
  const amd = gpus.filter((g) => g.vendor === 'amd');
  if (amd.length > 0) add('/dev/kfd');
  for (const g of amd) add(renderNode(g));
  for (const g of gpus.filter((x) => x.vendor === 'intel')) add(renderNode(g));
  const ascend = gpus.filter((g) => g.vendor === 'huawei');
  for (const g of ascend) add(`/dev/davinci${g.index}`);
  if (ascend.length > 0) for (const shared of ['/dev/davinci_manager', '/dev/devmm_svm', '/dev/hisi_hdc']) add(shared);
  return { devices, deviceRequests };
}
