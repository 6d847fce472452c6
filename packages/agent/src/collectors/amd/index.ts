export { parseAmdSmiJson } from './amd-smi-json.js';
export { parseRocmSmiJson } from './rocm-smi-json.js';
