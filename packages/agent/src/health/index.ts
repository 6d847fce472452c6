/** Health watchers on the agent: kernel log GPU events, counter changes, and their reporting. */
export { parseKernelLine, type KernelEvent, type KernelEventKind } from './kernel-line.js';
export { splitKernelPrefix, decodeKmsgEscapes, type KernelPrefix, type PrefixOptions } from './kernel-prefix.js';
export { KernelLineJoiner } from './line-joiner.js';
export { DRIVER_MESSAGES, matchDriverMessage, type DriverMessage } from './driver-messages.js';
export { describeKernelEvent, type KernelEventInfo } from './event-info.js';
export { parseKmsgRecord, type KmsgRecord } from './kmsg-record.js';
export {
  KernelLogWatcher,
  DEFAULT_LOOK_BACK_MS,
  whichOnPath,
  type KernelLogSourceKind,
  type KernelLogSourceOption,
  type KernelLogWatcherOptions,
  type KernelLogWatcherState,
} from './kmsg-watcher.js';
export { gpuUuidForPci, PciGpuMap } from './pci-to-gpu.js';
export {
  CounterWatch,
  WATCHED_COUNTERS,
  counterGpuKey,
  type CounterEvent,
  type CounterSample,
  type CounterWatchOptions,
  type WatchedCounter,
} from './counter-watch.js';
export { HealthReporter, type HealthOptions, type HealthReporterOptions } from './health-reporter.js';
