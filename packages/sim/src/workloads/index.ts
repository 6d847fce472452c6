/** Fake workloads for simulated hosts: executors the real workload supervisor drives, and the faults that reach them. */
export { FakeWorkloadExecutor } from './fake-executor.js';
export { FakeWorkload, type OutputSink } from './fake-workload.js';
export { SIM_ENV_KEYS, simBehavior, type SimBehavior } from './sim-behavior.js';
export { SimWorkloads, type SimAllocation, type SimWorkloadsOptions } from './sim-workloads.js';
