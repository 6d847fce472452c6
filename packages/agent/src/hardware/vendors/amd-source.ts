import type { GpuSnapshot } from '@gpufleet/protocol';
import { parseAmdSmiJson, parseRocmSmiJson } from '../../collectors/amd/index.js';
import type { GpuReadout } from '../backend.js';
import { mergeSnapshots } from '../merge-snapshots.js';
import { runParsed, type ToolContext } from '../vendor-tool.js';
import { absent, readout, type VendorSource } from './readout.js';

/**
 * AMD through amd-smi (ROCm 6 and later): `static` for the inventory on the first pass, every
 * `fullRefreshMs` and when the GPU set changes; `metric` for readings on every pass, laid over
 * the inventory. Where amd-smi is not installed, the older rocm-smi reports everything at once.
 */
export class AmdSource implements VendorSource {
  readonly vendor = 'amd' as const;
  private inventory: GpuSnapshot[] | null = null;
  private inventoryAt = 0;

  constructor(
    private readonly ctx: ToolContext,
    private readonly now: () => number,
    private readonly fullRefreshMs: number,
  ) {}

  async read(): Promise<GpuReadout> {
    const refresh = this.inventory === null || this.now() - this.inventoryAt >= this.fullRefreshMs;
    if (refresh) {
      this.inventory = null;
      const statics = await runParsed(this.ctx, 'amd', 'amd-smi', ['static', '--json'], parseAmdSmiJson);
      if (statics.kind === 'missing') return this.readRocmSmi();
      if (statics.kind === 'failed') return readout([], [statics.failure]);
      this.inventory = statics.value;
      this.inventoryAt = this.now();
    }
    const inventory = this.inventory!;
    const metric = await runParsed(this.ctx, 'amd', 'amd-smi', ['metric', '--json'], parseAmdSmiJson);
    if (metric.kind !== 'ok') {
      this.inventory = null;
      return metric.kind === 'missing' ? this.readRocmSmi() : readout([], [metric.failure]);
    }
    const m = mergeSnapshots(inventory, metric.value);
    if (!refresh && (m.unmatchedBase > 0 || m.unmatchedFresh > 0)) {
      // The GPU set changed since the inventory: read it again (this time refresh is true).
      this.inventory = null;
      return this.read();
    }
    return readout(m.merged);
  }

  private async readRocmSmi(): Promise<GpuReadout> {
    const all = await runParsed(this.ctx, 'amd', 'rocm-smi', ['-a', '--json'], parseRocmSmiJson);
    if (all.kind === 'missing') return absent();
    if (all.kind === 'failed') return readout([], [all.failure]);
    return readout(all.value);
  }
}
