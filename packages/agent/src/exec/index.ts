/** Remote operations on the host: verify signed commands, run them once, report through the outbox. */
export { CommandHandler, type CommandDelivery, type CommandHandlerOptions } from './command-handler.js';
export {
  CommandRunner,
  DEFAULT_SAFE_PATH,
  type CommandRunnerLike,
  type CommandRunnerOptions,
  type RunHooks,
  type RunnableCommand,
  type RunningCommand,
  type RunRequest,
  type RunResult,
} from './command-runner.js';
export { startContainerRun, CONTAINER_OP_FAILED, type ContainerOpFn, type ContainerRunOptions, type ContainerSpec } from './container-run.js';
export {
  OutputChunker,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_FLUSH_MS,
  DEFAULT_OUTPUT_CAP_BYTES,
  type OutputChunk,
  type OutputChunkerOptions,
  type OutputStream,
} from './output-chunker.js';
export { currentProcessIdentity, resolveRunAs, runAsProblem, type ProcessIdentity, type RunAsAccount } from './run-as.js';
export { TrustStore, DEFAULT_MAX_RUNS, DEFAULT_REPLAY_WINDOW_MS, type RunEntry, type TrustApplied, type TrustStoreOptions } from './trust-store.js';
export { createAgentExec, vouchedHostLabels, type ExecOptions } from './agent-exec.js';
