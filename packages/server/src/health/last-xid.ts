import { normalizePciBusId, type GpuInfo } from '@gpufleet/protocol';
import { gpuMetricKey } from '../metrics/prometheus.js';
import type { EventFacts } from './event-match.js';
import { findGpu } from './gpu-keys.js';

/**
 * The last XID each GPU reported (dcgm-exporter's DCGM_FI_DEV_XID_ERRORS: "value of the last
 * XID error encountered"), keyed as /metrics keys GPU rows (gpuMetricKey: the UUID, else node
 * and PCI bus id). A fallen-off-bus line counts as XID 79. In memory: like the exporter's
 * gauge, it starts at 0 after a restart.
 */
export class LastXid {
  private readonly byGpu = new Map<string, number>();

  /** Takes an event's facts; `gpus` is the node's inventory (an event may name the GPU by PCI id only). */
  observe(f: EventFacts, gpus: readonly GpuInfo[]): void {
    if ((f.record.kind !== 'xid' && f.record.kind !== 'fallen-off-bus') || f.code === null) return;
    const gpu = findGpu(gpus, f.record.gpuUuid, f.record.pciBusId);
    const key = gpuMetricKey(f.record.nodeId, gpu ?? { uuid: f.record.gpuUuid, pciBusId: normalizePciBusId(f.record.pciBusId) });
    if (key !== null) this.byGpu.set(key, f.code);
  }

  /** The map /metrics reads (PrometheusInput.lastXid). */
  get map(): ReadonlyMap<string, number> {
    return this.byGpu;
  }
}
