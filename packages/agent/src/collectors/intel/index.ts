export { parseXpuSmiDiscoveryJson } from './xpu-smi-discovery.js';
export { parseXpuSmiDump, type XpuSmiDumpReading } from './xpu-smi-dump.js';
export { mergeXpuSmi } from './xpu-smi-merge.js';
