export type { GpuReadout, HardwareBackend } from './backend.js';
export { RealHardwareBackend, DEFAULT_FULL_REFRESH_MS, DEFAULT_TOOL_TIMEOUT_MS, type RealHardwareBackendOptions } from './real-backend.js';
export { runTool, MAX_TOOL_OUTPUT_BYTES, type RunToolOptions, type ToolExec, type ToolResult } from './tool-runner.js';
export { gpuKey } from './gpu-identity.js';
export { mergeSnapshots, type SnapshotMerge } from './merge-snapshots.js';
