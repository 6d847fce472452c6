/** Command fan-out: runs of operator-signed commands over many hosts (issue 4). */
export { RunService, type RunServiceOptions, type RunScriptLookup, type SubmitResult } from './run-service.js';
export { SubmitRunRequest, parseSubmitRequest } from './submit-request.js';
export { BatchOptions, resolveBatchPolicy, splitBatches, type BatchPolicy } from './batch-policy.js';
export { runView, targetView, outputView, type RunView, type RunTargetView, type RunOutputView, type RunCommandView } from './run-views.js';
export type { FrameSender } from './run-scheduler.js';
