import type { AssignedGpu, GpuVendor, GroupSpec } from '@gpufleet/protocol';

/**
 * How an allocation's workload is started on a host (issue 10). The workload supervisor
 * (verification, restarts, health checks, reports) is the same for every executor; an executor
 * only starts, stops and re-finds one instance. Real hosts use the container executor (Docker
 * Engine API: Docker or Podman) and the process executor; simulated hosts use a fake one.
 */

/** A GPU handed to an allocation, with what the executor needs to expose it the vendor's way. */
export interface ExecutorGpu extends AssignedGpu {
  vendor: GpuVendor;
  pciBusId: string | null;
}

/** One start of an allocation's workload: everything comes from the verified, signed spec and the placement. */
export interface ExecutorStart {
  allocId: string;
  job: string;
  /** `web-0`. */
  name: string;
  group: string;
  jobVersion: number;
  specHash: string;
  spec: GroupSpec;
  gpus: ExecutorGpu[];
  /** The spec's env plus what gpufleet adds (GPU visibility variables, GPUFLEET_ALLOC_ID...). */
  env: Record<string, string>;
}

export interface WorkloadExit {
  exitCode: number | null;
  signal: string | null;
}

/** A started instance of a workload. */
export interface RunningWorkload {
  /** Resolves once the workload has exited (by itself, or after stop()). Never rejects. */
  readonly exited: Promise<WorkloadExit>;
  /** SIGTERM (or the engine's stop), then SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs: number): Promise<WorkloadExit>;
  /**
   * Runs a health check command inside the workload's context (in the container for the
   * container executor, on the host with the allocation's env for the process executor).
   */
  execCheck(argv: readonly string[], timeoutMs: number): Promise<{ exitCode: number | null }>;
  /**
   * The host address its http/tcp health checks should use (the container's address, or
   * 127.0.0.1). Null: checks go to the address the spec names, defaulting to 127.0.0.1.
   */
  readonly checkAddress: string | null;
  /**
   * When present, the supervisor asks this instead of probing http/tcp/command: the simulator's
   * fake executor answers health failures on demand.
   */
  simulatedHealth?(): Promise<boolean>;
  /**
   * The agent is stopping and leaves this instance running for the next agent to take over
   * (adopt): stop watching it (logs, exit) without stopping it. Executors whose instances do
   * not survive their agent leave it out.
   */
  detach?(): void;
}

/** What adopt may use to pick up where the previous agent left off. */
export interface AdoptOptions {
  /** Output written since this time (epoch ms) is sent; earlier output was sent by the previous agent. */
  sinceMs?: number;
}

export interface WorkloadExecutor {
  readonly kind: GroupSpec['executor'];
  /**
   * Starts one instance; output lines go to onOutput as they come. Rejects (with a message a
   * person can act on) when it cannot start: image missing, engine unreachable, program not found.
   */
  start(start: ExecutorStart, onOutput: (stream: 'stdout' | 'stderr', data: string) => void): Promise<RunningWorkload>;
  /**
   * Finds an instance of this allocation that survived an agent restart (a container labelled
   * with its id), or null. Process workloads do not survive their agent: null.
   */
  adopt(allocId: string, onOutput: (stream: 'stdout' | 'stderr', data: string) => void, opts?: AdoptOptions): Promise<RunningWorkload | null>;
  /** Removes what a stopped instance leaves behind (the container). */
  cleanup(allocId: string): Promise<void>;
}
