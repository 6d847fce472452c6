import type { NodeRecord } from '../store/store.js';
import type { NodeRegistry } from '../services/node-registry.js';
import { gpuKeyOf } from '../health/gpu-keys.js';
import { FLEET_SLICE, forEachInSlices } from '../services/loop-slices.js';
import type { FleetIndex } from './scheduler/fleet-index.js';
import type { SchedGpu, SchedNode } from './scheduler/scheduler-types.js';

/** What the fleet index is built from: the registry (nodes, status, labels) and its state machine (GPU states). */
export type FleetSource = Pick<NodeRegistry, 'get' | 'all' | 'status' | 'labelsOf' | 'states'>;

/** A node as the scheduler sees it: its status now (OFFLINE included), effective labels, GPUs with their states. */
export function schedNodeOf(source: FleetSource, node: NodeRecord): SchedNode {
  const gpus: SchedGpu[] = node.gpus.map((g) => ({
    index: g.index,
    uuid: g.uuid,
    vendor: g.vendor,
    name: g.name,
    memoryTotalBytes: g.memoryTotalBytes,
    pciBusId: g.pciBusId,
    state: source.states.gpuState(node.id, gpuKeyOf(g)),
  }));
  const cpu = node.facts.cpu.threads || node.facts.cpu.cores;
  return {
    id: node.id,
    hostname: node.hostname,
    labels: source.labelsOf(node.id),
    state: source.status(node),
    // Logical CPUs, as a job's `cpu: 8` means them; unknown (0) is unknown, not none.
    cpuCores: cpu > 0 ? cpu : null,
    memoryBytes: node.facts.memoryTotalBytes > 0 ? node.facts.memoryTotalBytes : null,
    gpus,
  };
}

/**
 * Keeps the scheduler's fleet index in step with the registry: everything at start, then one
 * node whenever the hub says it changed (status, GPU state, labels, inventory, removal). O(GPUs
 * of the node) per change.
 */
export class FleetSync {
  constructor(
    private readonly source: FleetSource,
    readonly index: FleetIndex,
  ) {}

  /**
   * Every node again, giving the event loop back every FLEET_SLICE nodes: at 100,000 nodes one
   * pass took 3-7 s in one piece (measured, replica-fleet bench), and a replica that took the
   * scheduler lease back made it while its other leases waited, so it lost them again.
   */
  async syncAll(): Promise<void> {
    await forEachInSlices(this.source.all(), FLEET_SLICE, (node) => this.syncNode(node.id));
  }

  syncNode(nodeId: string): void {
    const node = this.source.get(nodeId);
    if (!node || node.adminState === 'decommissioned') {
      this.index.remove(nodeId);
      return;
    }
    this.index.upsert(schedNodeOf(this.source, node));
  }
}
