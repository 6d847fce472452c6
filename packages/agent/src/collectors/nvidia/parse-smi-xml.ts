import { FleetError, type GpuSnapshot } from '@gpufleet/protocol';
import { smiNodeFromXml } from './smi-tree.js';
import { countOf, cleanValue } from './smi-values.js';
import { snapshotFromSmiGpu } from './snapshot-from-tree.js';
import { readXml, xmlChildren, xmlText, type XmlElement } from './xml-reader.js';

const EXPECTED = 'expected nvidia-smi -q -x XML output';

/**
 * Parses `nvidia-smi -q -x` (DTD v10 to v13 spellings) into one snapshot per `<gpu>`, in output
 * order (`index` is that order: the XML carries no enumeration index). Values nvidia-smi does
 * not have (N/A, [Not Supported], deprecated) are null.
 * Throws FleetError('invalid_argument') for input that is not that XML: empty, malformed,
 * truncated, or a document of another kind. A well-formed log with no GPUs gives [].
 */
export function parseNvidiaSmiXml(xml: string): GpuSnapshot[] {
  if (typeof xml !== 'string' || xml.trim() === '') {
    throw new FleetError('invalid_argument', `${EXPECTED}, got empty input`);
  }
  let root: XmlElement;
  try {
    root = readXml(xml);
  } catch (err) {
    if (!FleetError.is(err)) throw err;
    throw new FleetError('invalid_argument', `${EXPECTED}: ${err.message}`, { cause: err });
  }
  if (root.name !== 'nvidia_smi_log') {
    throw new FleetError('invalid_argument', `${EXPECTED} (root element <nvidia_smi_log>), got <${root.name}>`);
  }
  const gpus = xmlChildren(root, 'gpu');
  const attached = countOf(xmlText(root, 'attached_gpus'));
  if (attached !== null && attached > 0 && gpus.length === 0) {
    throw new FleetError('invalid_argument', `${EXPECTED}: it says ${attached} GPUs are attached but has no <gpu> element`);
  }
  const host = {
    driverVersion: cleanValue(xmlText(root, 'driver_version')),
    runtimeVersion: cleanValue(xmlText(root, 'cuda_version')),
  };
  return gpus.map((gpu, index) => snapshotFromSmiGpu(smiNodeFromXml(gpu), index, host));
}
