/** Workloads on the host (issue 10): verify a placement, start it, supervise it, report it. */
export type { AdoptOptions, ExecutorGpu, ExecutorStart, RunningWorkload, WorkloadExecutor, WorkloadExit } from './executor.js';
export {
  WorkloadSupervisor,
  type SupervisorLifecycle,
  type WorkloadHost,
  type WorkloadSupervisorOptions,
  type WorkloadTrust,
} from './supervisor.js';
export { judgeStart, executorStart, type HostGpu, type StartContext, type StartVerdict } from './alloc-start.js';
export { ProcessExecutor, type ProcessExecutorOptions } from './process-executor.js';
export { ContainerExecutor, type ContainerExecutorOptions } from './container-executor.js';
export { containerCreateBody, containerName, ALLOC_LABEL, JOB_LABEL, NAME_LABEL, SPEC_LABEL } from './container-spec.js';
export {
  containerGpuAccess,
  type ContainerGpuAccess,
  type DeviceMapping,
  type DeviceRequest,
  type EngineKind,
  type GpuAccessOptions,
  type NvidiaPassthrough,
} from './container-gpu-access.js';
export { gpuVisibilityEnv, GPU_VISIBILITY_VARS, type GpuPlacementKind } from './gpu-visibility.js';
export { renderNodeOf, sysfsBdf } from './render-nodes.js';
export { AllocOutput, DEFAULT_OUTPUT_RATE, CHUNK_RESERVATION, type AllocOutputOptions, type OutputRateLimits } from './alloc-output.js';
export { HealthWatch, type HealthWatchOptions } from './health-watch.js';
export { runHealthCheck, probeHttp, probeTcp, checkTarget, type ProbeResult } from './health-probe.js';
export { restartAllowed, recentRestarts, withRestart, describePolicy } from './restart-budget.js';
export { parseStoredAllocation, FINAL_STATES, type StoredAllocation, type StoredAllocState } from './stored-allocation.js';
export { SupervisedAllocation, type SupervisedAllocationDeps } from './supervised-alloc.js';
export { createAgentWorkloads, type WorkloadOptions } from './agent-workloads.js';
