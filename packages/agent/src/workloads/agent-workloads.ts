import type { Clock } from '../runtime/clock.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import type { Logger } from '../runtime/logger.js';
import type { AgentStateStore } from '../runtime/state.js';
import type { OutputRateLimits } from './alloc-output.js';
import type { NvidiaPassthrough } from './container-gpu-access.js';
import { ContainerExecutor } from './container-executor.js';
import type { WorkloadExecutor } from './executor.js';
import { ProcessExecutor } from './process-executor.js';
import { WorkloadSupervisor, type WorkloadHost, type WorkloadTrust } from './supervisor.js';

/** How the agent runs workloads; every field has a default. */
export interface WorkloadOptions {
  /** False refuses every allocation (`gpufleet-agent run --workloads off`). Default true. */
  enabled?: boolean;
  /** The executors, one per kind. Default: a ContainerExecutor and a ProcessExecutor (the simulator passes fakes). */
  executors?: readonly WorkloadExecutor[];
  /** The container engine's API socket. Default: the exec options' socket, else the first one found. */
  containerSocketPath?: string;
  /** How NVIDIA GPUs reach containers. Default: by engine (Docker: device requests, Podman: CDI). */
  nvidia?: NvidiaPassthrough;
  /** Where process workloads' groups are written down, to end orphans after an agent crash. Default: not written. */
  processStateDir?: string;
  /** Output rate cap per allocation. Default 32 KiB/s, bursts of 256 KiB. */
  output?: Partial<OutputRateLimits>;
  /** Grace a process workload gets when the agent stops. Default 10 s. */
  shutdownGraceMs?: number;
}

/** Builds an agent's workload supervisor over its state store and trust store. */
export function createAgentWorkloads(o: {
  options?: WorkloadOptions;
  /** The exec options' engine socket, used when the workload options name none. */
  containerSocketPath?: string;
  state: AgentStateStore;
  trust: WorkloadTrust;
  host: () => WorkloadHost;
  enqueue: (e: NewAgentEvent, critical: boolean) => unknown;
  clock: Clock;
  logger: Logger;
}): WorkloadSupervisor {
  const opts = o.options ?? {};
  const executors = opts.executors ?? [
    new ContainerExecutor({ socketPath: opts.containerSocketPath ?? o.containerSocketPath, nvidia: opts.nvidia }),
    new ProcessExecutor({ stateDir: opts.processStateDir }),
  ];
  return new WorkloadSupervisor({
    state: o.state,
    trust: o.trust,
    host: o.host,
    executors,
    enqueue: o.enqueue,
    clock: o.clock,
    logger: o.logger,
    enabled: opts.enabled ?? true,
    output: opts.output,
    shutdownGraceMs: opts.shutdownGraceMs,
  });
}
