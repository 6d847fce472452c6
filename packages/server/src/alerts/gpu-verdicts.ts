import type { HubEvent } from '../events/event-hub.js';

type HealthEvent = Extract<HubEvent, { type: 'health' }>;

/**
 * The latest health verdict of each GPU that is not healthy, per node, as told by the hub.
 * The health engine announces a node's verdict after each GPU change that moves it (a node
 * is as unwell as its worst GPU); this tells such an echo from a finding of the node's own,
 * so the alert engine pages once per fault.
 */
export class GpuVerdicts {
  private readonly byNode = new Map<string, Map<string, HealthEvent['verdict']>>();

  /** Records a GPU's verdict; for a node's, says whether it only repeats a GPU's (true) or is its own. */
  observe(e: HealthEvent): boolean {
    if (e.gpuKey !== null) {
      let gpus = this.byNode.get(e.nodeId);
      if (e.verdict === 'healthy') {
        gpus?.delete(e.gpuKey);
        if (gpus?.size === 0) this.byNode.delete(e.nodeId);
        return false;
      }
      if (gpus === undefined) this.byNode.set(e.nodeId, (gpus = new Map()));
      gpus.set(e.gpuKey, e.verdict);
      return false;
    }
    if (e.verdict === 'healthy') return false;
    for (const v of this.byNode.get(e.nodeId)?.values() ?? []) if (v === e.verdict) return true;
    return false;
  }

  forget(nodeId: string): void {
    this.byNode.delete(nodeId);
  }
}
