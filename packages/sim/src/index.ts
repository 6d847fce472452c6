/** @gpufleet/sim: simulated GPU hosts running the real agent code on fake hardware. */
export {
  FakeHardwareBackend,
  type FakeHardwareBackendOptions,
  type EccStorm,
  type GpuReadingFaults,
  type RowRemapFault,
  type SimGpuIds,
  type ThermalRamp,
} from './fake-backend.js';
export { GPU_MODELS, SIM_GPU_MODELS, isSimGpuModel, type GpuModelSpec, type SimGpuModel } from './gpu-models.js';
export { startSimFleet, assignModels, simHostnames, simIdentity, type SimFleet, type SimFleetOptions, type SimHost } from './fleet.js';
export { mulberry32, smoothNoise, hashString, unitHash, mix32 } from './prng.js';
export * from './faults/index.js';
export * from './scenario/index.js';
export { SimToolsRunner, type SimToolsRunnerOptions } from './tools/sim-tools-runner.js';
export { amdSmiList, nvidiaBusId, nvidiaSmiList, nvidiaSmiTable, rocmSmiTable } from './tools/vendor-tool-text.js';
export * from './workloads/index.js';
export { SimControlServer, type SimControlFile, type SimControlHost, type SimControlServerOptions } from './control/sim-control-server.js';
export { SimProvider, makeSimProviderFactory, simProviderFactory, type SimProviderOptions } from './provider/sim-provider.js';
export { SimProviderHosts, type SimProviderHost, type SimProviderHostsOptions, type SimTermination } from './provider/sim-provider-hosts.js';
export { SimUpdates, type SimUpdatesOptions, type UpdateFault } from './updates/sim-updates.js';
export { downloadTarget, type TufSource } from './updates/tuf-download.js';
