import type { GpuAllocationRef, GpuHealthView, GpuState, GpuView, MetricsBody, NodeHealthView, NodeView, StateChangeView } from '@gpufleet/protocol';
import type { NodeRecord, StateMarkRecord } from '../store/store.js';
import { gpuKeyOf } from '../health/gpu-keys.js';
import type { NodeStateMachine } from '../health/node-state-machine.js';
import type { HeatmapNode } from './fleet-heatmap.js';
import type { NodeRegistry } from './node-registry.js';

/** Where node views get health verdicts from (the health engine). */
export interface HealthReader {
  gpuHealth(nodeId: string, gpuKey: string, hasSample: boolean): GpuHealthView;
  nodeHealth(nodeId: string): NodeHealthView;
}

export interface NodeViewsOptions {
  registry: Pick<NodeRegistry, 'status' | 'isOnline' | 'lastSeen' | 'labelsOf'>;
  states: Pick<NodeStateMachine, 'mark'>;
  /** Required: a view without verdicts would call a failing GPU healthy. */
  health: HealthReader;
  latestMetrics: (nodeId: string) => MetricsBody | null;
  /** Which workload allocation holds each GPU (the workload service's claims). */
  allocations: { gpuAllocation(nodeId: string, gpuIndex: number): GpuAllocationRef | null };
}

/** For views with no workloads behind them (tests of health alone): every GPU is free. */
export const NO_ALLOCATIONS: NodeViewsOptions['allocations'] = { gpuAllocation: () => null };

function changeView(m: StateMarkRecord | undefined): StateChangeView | null {
  if (!m) return null;
  return { by: m.actor, reason: m.reason, at: new Date(m.since).toISOString(), drainDeadline: m.deadline === null ? null : new Date(m.deadline).toISOString() };
}

/** A node's latest GPU readings by GPU key (UUID, else PCI bus id, else #index), as gpuKeyOf names GPUs. */
function samplesByGpuKey(latest: MetricsBody | null): Map<string, NonNullable<GpuView['sample']>> {
  const samples = new Map<string, NonNullable<GpuView['sample']>>();
  for (const s of latest?.gpus ?? []) samples.set(s.uuid ?? s.pciBusId ?? `#${s.index}`, s);
  return samples;
}

/**
 * What the API shows of a node: its record, liveness, labels, latest readings, states and
 * health verdicts in one view. Its own service, over the registry and the health engine, so
 * that neither imports the other (the registry knows no health; health reads nodes through a
 * narrow interface).
 */
export class NodeViews {
  constructor(private readonly o: NodeViewsOptions) {}

  /**
   * What the overview's heatmap draws of a node, without building its whole view (facts, labels,
   * findings): the heatmap asks for every node of the fleet at once.
   */
  heatmapRow(node: NodeRecord): HeatmapNode {
    const samples = samplesByGpuKey(this.o.latestMetrics(node.id));
    return {
      id: node.id,
      hostname: node.hostname,
      status: this.o.registry.status(node),
      connected: this.o.registry.isOnline(node.id),
      lastSeen: this.o.registry.lastSeen(node.id),
      gpus: node.gpus.map((g) => {
        const key = gpuKeyOf(g);
        const sample = samples.get(key) ?? null;
        const verdict = this.o.health.gpuHealth(node.id, key, sample !== null).verdict;
        return { index: g.index, name: g.name, sample, state: this.o.states.mark(node.id, key)?.state ?? 'READY', health: { verdict } };
      }),
    };
  }

  view(node: NodeRecord): NodeView {
    const latest = this.o.latestMetrics(node.id);
    const samples = samplesByGpuKey(latest);
    const seen = this.o.registry.lastSeen(node.id);
    const gpus = node.gpus.map((g): GpuView => {
      const key = gpuKeyOf(g);
      const sample = samples.get(key) ?? null;
      const mark = this.o.states.mark(node.id, key);
      return {
        ...g,
        sample,
        state: (mark?.state as GpuState | undefined) ?? 'READY',
        stateChange: changeView(mark),
        health: this.o.health.gpuHealth(node.id, key, sample !== null),
        allocation: this.o.allocations.gpuAllocation(node.id, g.index),
      };
    });
    return {
      id: node.id,
      hostname: node.hostname,
      status: this.o.registry.status(node),
      connected: this.o.registry.isOnline(node.id),
      labels: this.o.registry.labelsOf(node.id),
      userLabels: node.userLabels,
      enrolledAt: new Date(node.enrolledAt).toISOString(),
      lastSeenAt: seen === null ? null : new Date(seen).toISOString(),
      agentVersion: node.agentVersion,
      simulated: node.simulated,
      mode: node.mode,
      facts: node.facts,
      gpus,
      host: latest?.host ?? null,
      toolFailures: node.toolFailures,
      statusChange: changeView(this.o.states.mark(node.id, null)),
      health: this.o.health.nodeHealth(node.id),
    };
  }
}
