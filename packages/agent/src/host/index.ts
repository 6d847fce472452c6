export { readHostFacts, resolveHostReadOptions, type HostFactsOptions, type HostReadOptions, type HostSystem } from './host-facts.js';
export { HostSampler, type HostSamplerOptions } from './host-sampler.js';
export { detectContainerRuntime, runtimeSocketCandidates, type ContainerRuntime } from './container-runtime.js';
export { parseMounts, realFilesystems, statfsBelow, type FsUsage, type MountEntry, type StatFs } from './mounts.js';
export * from './procfs.js';
