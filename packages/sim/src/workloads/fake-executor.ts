import type { GroupSpec } from '@gpufleet/protocol';
import type { ExecutorStart, RunningWorkload, WorkloadExecutor } from '@gpufleet/agent';
import type { OutputSink } from './fake-workload.js';
import type { SimWorkloads } from './sim-workloads.js';

/**
 * A simulated host's executor of one kind. The agent's workload supervisor drives it as it
 * drives the real container and process executors (verification, restarts, health checks and
 * reports are the real code); what it starts is a FakeWorkload registered with the fleet's
 * SimWorkloads, where faults reach it.
 */
export class FakeWorkloadExecutor implements WorkloadExecutor {
  constructor(
    private readonly workloads: SimWorkloads,
    readonly hostname: string,
    readonly kind: GroupSpec['executor'],
  ) {}

  start(start: ExecutorStart, onOutput: OutputSink): Promise<RunningWorkload> {
    return this.workloads.start(this.hostname, this.kind, start, onOutput);
  }

  async adopt(allocId: string, onOutput: OutputSink): Promise<RunningWorkload | null> {
    return this.workloads.adopt(this.hostname, this.kind, allocId, onOutput);
  }

  async cleanup(allocId: string): Promise<void> {
    this.workloads.cleanup(this.hostname, allocId);
  }
}
