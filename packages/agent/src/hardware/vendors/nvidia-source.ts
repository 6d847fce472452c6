import type { GpuSnapshot, ToolFailure } from '@gpufleet/protocol';
import {
  classifyNvidiaSmiFailure,
  NVIDIA_QUERY_FIELDS,
  NVIDIA_QUERY_FIELDS_PRE_R535,
  parseNvidiaSmiCsv,
  parseNvidiaSmiXml,
} from '../../collectors/nvidia/index.js';
import type { GpuReadout } from '../backend.js';
import { mergeSnapshots } from '../merge-snapshots.js';
import { runParsed, type ToolContext, type ToolOutcome } from '../vendor-tool.js';
import { absent, readout, type VendorSource } from './readout.js';

const TOOL = 'nvidia-smi';

/**
 * NVIDIA through nvidia-smi. The full `-q -x` report (inventory, ECC, retired pages, MIG) is
 * slow on big hosts, so it runs on the first pass, then every `fullRefreshMs`, and whenever
 * the set of GPUs changes; passes in between run the cheap `--query-gpu` CSV and lay it over
 * the last full report, matched by UUID.
 */
export class NvidiaSource implements VendorSource {
  readonly vendor = 'nvidia' as const;
  private inventory: GpuSnapshot[] | null = null;
  private inventoryAt = 0;
  private fields: readonly string[] = NVIDIA_QUERY_FIELDS;

  constructor(
    private readonly ctx: ToolContext,
    private readonly now: () => number,
    private readonly fullRefreshMs: number,
  ) {}

  async read(): Promise<GpuReadout> {
    if (this.inventory === null || this.now() - this.inventoryAt >= this.fullRefreshMs) return this.readFull();
    const csv = await this.query();
    if (csv.kind !== 'ok') {
      // After any trouble the next good pass starts from a full report again.
      this.inventory = null;
      return csv.kind === 'missing' ? absent() : readout([], [csv.failure]);
    }
    const m = mergeSnapshots(this.inventory, csv.value);
    // A GPU appeared or vanished since the full report: its inventory is out of date now.
    if (m.unmatchedBase > 0 || m.unmatchedFresh > 0) return this.readFull();
    return readout(m.merged, this.stderrFailures(csv.stderr));
  }

  private async readFull(): Promise<GpuReadout> {
    this.inventory = null;
    const xml = await runParsed(this.ctx, 'nvidia', TOOL, ['-q', '-x'], parseNvidiaSmiXml, classifyNvidiaSmiFailure);
    if (xml.kind === 'missing') return absent();
    if (xml.kind === 'failed') return readout([], [xml.failure]);
    this.inventory = xml.value;
    this.inventoryAt = this.now();
    return readout(xml.value, this.stderrFailures(xml.stderr));
  }

  private async query(): Promise<ToolOutcome<GpuSnapshot[]>> {
    const first = await this.runQuery();
    // Drivers before r535 refuse the whole query over the throttle field's newer name.
    if (first.kind === 'failed' && this.fields === NVIDIA_QUERY_FIELDS && /is not a valid field to query/i.test(first.output)) {
      this.fields = NVIDIA_QUERY_FIELDS_PRE_R535;
      return this.runQuery();
    }
    return first;
  }

  private runQuery(): Promise<ToolOutcome<GpuSnapshot[]>> {
    const args = [`--query-gpu=${this.fields.join(',')}`, '--format=csv,nounits'];
    return runParsed(this.ctx, 'nvidia', TOOL, args, parseNvidiaSmiCsv, classifyNvidiaSmiFailure);
  }

  /** A run that succeeded can still complain about one GPU on stderr (a lost GPU, for one). */
  private stderrFailures(stderr: string): ToolFailure[] {
    const failure = stderr.trim() === '' ? null : classifyNvidiaSmiFailure(stderr, 0);
    return failure ? [failure] : [];
  }
}
