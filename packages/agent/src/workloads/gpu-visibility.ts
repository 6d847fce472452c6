import { GPU_VENDORS, type GpuVendor } from '@gpufleet/protocol';
import type { ExecutorGpu } from './executor.js';

/**
 * The environment that shows a workload the GPUs it was given, the way each vendor's runtime
 * reads it. Where the workload runs changes the numbering:
 *
 * - `host` (process executor): every GPU of the host is visible to the runtime, so the variables
 *   name the assigned ones by host index (or UUID where the runtime takes it).
 * - `container`: the container only has the device nodes of its GPUs (container-gpu-access.ts),
 *   so the runtimes number them from 0 inside; host indexes would point past the end.
 *
 * NVIDIA: CUDA_VISIBLE_DEVICES takes UUIDs or indexes; UUIDs mean the same on the host and in a
 * container, so they are used whenever every GPU has one. CUDA_DEVICE_ORDER=PCI_BUS_ID makes
 * CUDA's indexes the ones nvidia-smi (and this agent) print; CUDA's own default orders fastest
 * first. In a container NVIDIA_VISIBLE_DEVICES tells the NVIDIA container runtime what to mount.
 * AMD: ROCR_VISIBLE_DEVICES is applied first (ROCm's recommendation on Linux) and
 * HIP_VISIBLE_DEVICES then picks among what ROCr left, so it counts from 0.
 * Intel: ZE_AFFINITY_MASK (Level Zero device ordinals).
 * Ascend (huawei): ASCEND_RT_VISIBLE_DEVICES (logical ids); in a container
 * ASCEND_VISIBLE_DEVICES tells the Ascend container runtime which host NPUs to mount.
 */
export type GpuPlacementKind = 'host' | 'container';

/** Every variable gpuVisibilityEnv may set: a job's own env never sets these (see executorStart). */
export const GPU_VISIBILITY_VARS: readonly string[] = [
  'CUDA_VISIBLE_DEVICES',
  'CUDA_DEVICE_ORDER',
  'NVIDIA_VISIBLE_DEVICES',
  'ROCR_VISIBLE_DEVICES',
  'HIP_VISIBLE_DEVICES',
  'GPU_DEVICE_ORDINAL',
  'ZE_AFFINITY_MASK',
  'ASCEND_VISIBLE_DEVICES',
  'ASCEND_RT_VISIBLE_DEVICES',
];

function ids(gpus: readonly ExecutorGpu[], preferUuid: boolean): string {
  if (preferUuid && gpus.every((g) => g.uuid !== null && g.uuid !== '')) return gpus.map((g) => g.uuid).join(',');
  return gpus.map((g) => String(g.index)).join(',');
}

const fromZero = (n: number): string => Array.from({ length: n }, (_, i) => String(i)).join(',');

function vendorEnv(vendor: GpuVendor, gpus: readonly ExecutorGpu[], where: GpuPlacementKind): Record<string, string> {
  switch (vendor) {
    case 'nvidia': {
      const env: Record<string, string> = { CUDA_DEVICE_ORDER: 'PCI_BUS_ID' };
      if (where === 'host') env.CUDA_VISIBLE_DEVICES = ids(gpus, true);
      else {
        env.NVIDIA_VISIBLE_DEVICES = ids(gpus, true);
        // Only UUIDs survive the container's renumbering; without them CUDA sees just these GPUs anyway.
        if (gpus.every((g) => g.uuid)) env.CUDA_VISIBLE_DEVICES = ids(gpus, true);
      }
      return env;
    }
    case 'amd':
      return where === 'host'
        ? { ROCR_VISIBLE_DEVICES: ids(gpus, false), HIP_VISIBLE_DEVICES: fromZero(gpus.length) }
        : { ROCR_VISIBLE_DEVICES: fromZero(gpus.length), HIP_VISIBLE_DEVICES: fromZero(gpus.length) };
    case 'intel':
      return { ZE_AFFINITY_MASK: where === 'host' ? ids(gpus, false) : fromZero(gpus.length) };
    case 'huawei':
      return where === 'host'
        ? { ASCEND_RT_VISIBLE_DEVICES: ids(gpus, false) }
        : { ASCEND_VISIBLE_DEVICES: ids(gpus, false), ASCEND_RT_VISIBLE_DEVICES: fromZero(gpus.length) };
  }
}

/**
 * The visibility variables for an allocation's GPUs, one vendor's set per vendor among them.
 * An allocation without GPUs of a vendor gets none of its variables: it is not given those GPUs
 * (containers get no device nodes for them; a process workload is trusted to use what it asked for).
 */
export function gpuVisibilityEnv(gpus: readonly ExecutorGpu[], where: GpuPlacementKind): Record<string, string> {
  const env: Record<string, string> = {};
  for (const vendor of GPU_VENDORS) {
    const mine = gpus.filter((g) => g.vendor === vendor);
    if (mine.length > 0) Object.assign(env, vendorEnv(vendor, mine, where));
  }
  return env;
}
