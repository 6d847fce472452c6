import { FleetError, type GpuSnapshot } from '@gpufleet/protocol';
import { smiTreeFromText, smiValue } from './smi-tree.js';
import { countOf, cleanValue } from './smi-values.js';
import { snapshotFromSmiGpu } from './snapshot-from-tree.js';

const EXPECTED = 'expected nvidia-smi -q text output';
const MAX_LENGTH = 64 * 1024 * 1024;

/**
 * Parses the human `nvidia-smi -q` report into one snapshot per `GPU 0000...` section, in output
 * order (`index` is that order). Works for the spellings of drivers r470 to r595 (Clocks Throttle
 * / Clocks Event Reasons, Single/Double Bit or SRAM/DRAM ECC counters, Power Draw or Average /
 * Instantaneous Power Draw). A report filtered with `-i` lists fewer GPUs than `Attached GPUs`;
 * that is accepted.
 * Throws FleetError('invalid_argument') for input that is not such a report.
 */
export function parseNvidiaSmiQ(text: string): GpuSnapshot[] {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new FleetError('invalid_argument', `${EXPECTED}, got empty input`);
  }
  if (text.length > MAX_LENGTH) {
    throw new FleetError('invalid_argument', `${EXPECTED}: input is ${text.length} characters, more than ${MAX_LENGTH}`);
  }
  const root = smiTreeFromText(text);
  const gpus = root.children.filter((c) => c.key === 'gpu' && c.id !== undefined);
  const attachedRaw = smiValue(root, 'attachedgpus');
  const attached = countOf(attachedRaw);
  if (attachedRaw === null && gpus.length === 0) {
    const hint = text.trimStart().startsWith('<') ? ' (this looks like XML: use the -q -x parser)' : '';
    throw new FleetError('invalid_argument', `${EXPECTED}: found neither an 'Attached GPUs' line nor a 'GPU <bus id>' section${hint}`);
  }
  if (attached !== null && gpus.length > attached) {
    throw new FleetError('invalid_argument', `${EXPECTED}: ${gpus.length} GPU sections but 'Attached GPUs' says ${attached}`);
  }
  if (attached !== null && attached > 0 && gpus.length === 0) {
    throw new FleetError('invalid_argument', `${EXPECTED}: 'Attached GPUs' says ${attached} but no GPU section follows (truncated?)`);
  }
  const host = {
    driverVersion: cleanValue(smiValue(root, 'driverversion')),
    runtimeVersion: cleanValue(smiValue(root, 'cudaversion')),
  };
  return gpus.map((gpu, index) => snapshotFromSmiGpu(gpu, index, host));
}
