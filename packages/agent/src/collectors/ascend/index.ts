export { parseNpuSmiInfo } from './npu-smi-info.js';
