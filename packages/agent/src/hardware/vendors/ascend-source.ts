import { parseNpuSmiInfo } from '../../collectors/ascend/index.js';
import type { GpuReadout } from '../backend.js';
import { runParsed, type ToolContext } from '../vendor-tool.js';
import { absent, readout, type VendorSource } from './readout.js';

/** Huawei Ascend NPUs through `npu-smi info`, which prints identity and readings in one table. */
export class AscendSource implements VendorSource {
  readonly vendor = 'huawei' as const;
  constructor(private readonly ctx: ToolContext) {}

  async read(): Promise<GpuReadout> {
    const info = await runParsed(this.ctx, 'huawei', 'npu-smi', ['info'], parseNpuSmiInfo);
    if (info.kind === 'missing') return absent();
    if (info.kind === 'failed') return readout([], [info.failure]);
    return readout(info.value);
  }
}
