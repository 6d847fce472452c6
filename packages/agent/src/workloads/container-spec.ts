import type { ContainerCreateBody } from '../containers/workload-engine.js';
import type { ContainerGpuAccess } from './container-gpu-access.js';
import type { ExecutorStart } from './executor.js';

/** Labels that tie a container to its allocation (adopt finds it by ALLOC_LABEL). */
export const ALLOC_LABEL = 'gpufleet.alloc';
export const JOB_LABEL = 'gpufleet.job';
export const SPEC_LABEL = 'gpufleet.spec';
export const NAME_LABEL = 'gpufleet.name';

/** The container's name: the allocation id, prefixed so it is a valid name (ids may start with - or _). */
export function containerName(allocId: string): string {
  return `gpufleet-${allocId}`;
}

/**
 * The create body of an allocation's container, from the verified start only: the image and
 * command of the signed spec, the allocation's environment, labels naming the allocation, its
 * job and spec hash, the GPU devices of its placement, and the spec's memory and CPU limits.
 * Nothing else: no privileges, mounts, host network or capabilities beyond the engine's
 * defaults. The engine does not restart it: supervision (restart policy, health) is the agent's.
 */
export function containerCreateBody(start: ExecutorStart, gpu: ContainerGpuAccess): ContainerCreateBody {
  const spec = start.spec;
  if (!spec.image) throw new Error(`${start.job}/${start.name} has no image`);
  const host: Record<string, unknown> = { RestartPolicy: { Name: 'no' } };
  if (spec.resources.memory !== undefined) host.Memory = spec.resources.memory;
  if (spec.resources.cpu !== undefined) host.NanoCpus = Math.round(spec.resources.cpu * 1e9);
  if (gpu.devices.length > 0) host.Devices = gpu.devices;
  if (gpu.deviceRequests.length > 0) host.DeviceRequests = gpu.deviceRequests;
  return {
    Image: spec.image,
    ...(spec.command ? { Cmd: [...spec.command] } : {}),
    Env: Object.entries(start.env).map(([k, v]) => `${k}=${v}`),
    Labels: {
      [ALLOC_LABEL]: start.allocId,
      [JOB_LABEL]: start.job,
      [NAME_LABEL]: start.name,
      [SPEC_LABEL]: start.specHash,
    },
    HostConfig: host,
  };
}
