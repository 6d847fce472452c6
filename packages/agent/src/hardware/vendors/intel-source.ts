import { parseXpuSmiDiscoveryJson, parseXpuSmiDump, mergeXpuSmi } from '../../collectors/intel/index.js';
import type { GpuReadout } from '../backend.js';
import { runParsed, type ToolContext } from '../vendor-tool.js';
import { absent, readout, type VendorSource } from './readout.js';

/** Metrics asked of `xpu-smi dump`: utilization, power, frequency, core and memory temperature, memory utilization, memory used. */
// 17 is memory bandwidth utilization, our memoryUtilizationPct (5 is memory in use).
export const XPU_DUMP_METRICS = '0,1,2,3,4,5,17,18';

/**
 * Intel data-center GPUs through xpu-smi: `discovery -j` names the devices (UUID, PCI
 * address), one `dump` sample gives their readings, merged by xpu-smi device id.
 */
export class IntelSource implements VendorSource {
  readonly vendor = 'intel' as const;
  constructor(private readonly ctx: ToolContext) {}

  async read(): Promise<GpuReadout> {
    const discovery = await runParsed(this.ctx, 'intel', 'xpu-smi', ['discovery', '-j'], parseXpuSmiDiscoveryJson);
    if (discovery.kind === 'missing') return absent();
    if (discovery.kind === 'failed') return readout([], [discovery.failure]);
    if (discovery.value.length === 0) return readout([]);

    const ids = discovery.value.map((g) => g.index).join(',');
    const dump = await runParsed(this.ctx, 'intel', 'xpu-smi', ['dump', '-d', ids, '-m', XPU_DUMP_METRICS, '-n', '1'], parseXpuSmiDump);
    // Without readings the devices are still there: report them, and why the readings are not.
    if (dump.kind === 'missing') return readout(discovery.value);
    if (dump.kind === 'failed') return readout(discovery.value, [dump.failure]);
    return readout(mergeXpuSmi(discovery.value, dump.value));
  }
}
