/** @gpufleet/agent: the agent runtime, the hardware backends and the vendor tool parsers. */
export {
  Agent,
  DEFAULT_METRICS_INTERVAL_MS,
  type AgentExit,
  type AgentLifecycle,
  type AgentOptions,
  type AgentStats,
  type NewAgentEvent,
} from './runtime/agent.js';
export { joinFleet, fetchPinnedCa, certificateFingerprint, checkTokenTransport, serverEndpoint, type JoinOptions, type JoinResult } from './runtime/join.js';
export { identityFromSeed, loadIdentity, loadOrCreateIdentity, ensureDataDir, KEY_FILE, type AgentIdentity } from './runtime/identity.js';
export {
  MemoryStateStore,
  isTrustRecord,
  type AgentStateStore,
  type NodeConfig,
  type OutboxItem,
  type OutboxSnapshot,
  type StoredRunOutcome,
  type StoredRunResult,
  type TrustRecord,
} from './runtime/state.js';
export {
  FileStateStore,
  parseOutboxLog,
  ALLOCATIONS_FILE,
  CA_FILE,
  NODE_CONFIG_FILE,
  OUTBOX_FILE,
  TRUST_FILE,
  type FileStateStoreOptions,
} from './runtime/file-state.js';
export { GpuChangeTracker, type GpuChanges } from './runtime/gpu-changes.js';
export { Outbox, DEFAULT_OUTBOX_LIMITS, NON_CRITICAL_SHARE, type OutboxEntry, type OutboxLimits, type OutboxOptions } from './runtime/outbox.js';
export { lockDataDir, LOCK_FILE } from './runtime/data-dir-lock.js';
export { MetricsRing, DEFAULT_METRICS_RING_CAPACITY } from './runtime/metrics-ring.js';
export {
  AgentLink,
  agentSocketUrl,
  backoffDelay,
  type BackoffOptions,
  type LinkOptions,
  type LinkState,
  type LinkStats,
  type RemoteOpFrame,
  type WelcomeInfo,
} from './runtime/link.js';
export {
  clampServerInterval,
  DEFAULT_SERVER_INTERVAL_BOUNDS,
  SIMULATION_INTERVAL_BOUNDS,
  type IntervalBounds,
  type ServerIntervalBounds,
} from './runtime/interval-bounds.js';
export { nodeHttpRequest, type HttpRequest, type HttpRequester, type HttpResponse } from './runtime/http-request.js';
export {
  createJsonLogger,
  silentLogger,
  withFields,
  isLogLevel,
  errorText,
  LOG_LEVELS,
  type JsonLoggerOptions,
  type Logger,
  type LogLevel,
} from './runtime/logger.js';
export { systemClock, type Clock } from './runtime/clock.js';
export { runAgentCommand, parseLabelArgs, DEFAULT_DATA_DIR, type CommandDeps } from './runtime/commands.js';
export { AGENT_VERSION } from './runtime/version.js';
export * from './hardware/index.js';
// The host collector's readers, for the server's fact collection over SSH (issue 12): one code path.
export { readHostFacts, HostSampler, type HostSystem, type StatFs } from './host/index.js';
export * from './collectors/nvidia/index.js';
export * from './collectors/amd/index.js';
export * from './collectors/intel/index.js';
export * from './collectors/ascend/index.js';
export * from './health/index.js';
export * from './exec/index.js';
export * from './workloads/index.js';
export * from './updates/index.js';
export * from './bundles/index.js';
