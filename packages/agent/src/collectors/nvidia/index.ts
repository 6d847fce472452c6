/** NVIDIA collector parsers: pure functions from nvidia-smi output to GpuSnapshot[] and ToolFailure. */
export { parseNvidiaSmiXml } from './parse-smi-xml.js';
export { parseNvidiaSmiQ } from './parse-smi-q.js';
export { parseNvidiaSmiCsv, NVIDIA_QUERY_FIELDS, NVIDIA_QUERY_FIELDS_PRE_R535 } from './parse-smi-csv.js';
export { classifyNvidiaSmiFailure } from './classify-failure.js';
export { readXml, xmlChild, xmlChildren, xmlText, type XmlElement, type XmlReadOptions } from './xml-reader.js';
