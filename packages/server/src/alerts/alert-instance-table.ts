import type { NodeRecord } from '../store/store.js';
import type { AlertRule } from './alert-rules.js';
import { alertId, type AlertInstance } from './alert-instance.js';
import { alertLabels } from './alert-labels.js';
import type { AlertHistory } from './alert-history.js';

/** What the instance table needs around it (the alert engine's parts). */
export interface AlertInstanceTableDeps {
  /** How many rules there are: instances are kept per rule index. */
  ruleCount: number;
  /** Instances at most; past it new ones are counted in `dropped`, not made. */
  maxInstances: number;
  history: AlertHistory;
  /** Tells receivers of a state change (AlertDispatcher.notify). */
  notify(inst: AlertInstance, now: number): void;
  labelsOf(nodeId: string): Readonly<Record<string, string>>;
  /** The engine's current pass number, stamped on new instances. */
  stamp(): number;
}

/**
 * Every alert instance, keyed by (rule, node, GPU), and the state machine that moves each
 * through pending -> firing -> resolved, writing each change to the history and telling the
 * receivers. The engine decides whether a condition holds; this keeps what follows from it.
 */
export class AlertInstanceTable {
  /** Per rule index: node id -> GPU key ('' for the node) -> instance. */
  private readonly byRule: Array<Map<string, Map<string, AlertInstance>>>;
  private readonly byId = new Map<string, AlertInstance>();
  readonly pending = new Set<AlertInstance>();
  readonly firing = new Set<AlertInstance>();
  readonly resolved = new Set<AlertInstance>();
  /** Instances not created because maxInstances was reached. */
  dropped = 0;

  constructor(private readonly o: AlertInstanceTableDeps) {
    this.byRule = Array.from({ length: o.ruleCount }, () => new Map());
  }

  /** Every instance, in no particular order. */
  all(): IterableIterator<AlertInstance> {
    return this.byId.values();
  }

  get(id: string): AlertInstance | undefined {
    return this.byId.get(id);
  }

  /** A rule's instances on one node (GPU key, '' for the node itself), if any. */
  onNode(rule: AlertRule, nodeId: string): ReadonlyMap<string, AlertInstance> | undefined {
    return this.byRule[rule.index]!.get(nodeId);
  }

  /** Instance counts of a rule by state. */
  countsOf(rule: AlertRule): { pending: number; firing: number; resolved: number } {
    const out = { pending: 0, firing: 0, resolved: 0 };
    for (const perNode of this.byRule[rule.index]!.values()) for (const inst of perNode.values()) out[inst.state]++;
    return out;
  }

  find(rule: AlertRule, nodeId: string, gpu: string | null): AlertInstance | undefined {
    return this.byRule[rule.index]!.get(nodeId)?.get(gpu ?? '');
  }

  /**
   * Applies the condition of (rule, node, gpu). `context` (kind-specific template values)
   * replaces the instance's when given. Returns the instance, if any.
   */
  evaluate(
    rule: AlertRule,
    node: NodeRecord,
    gpu: string | null,
    gpuIndex: number | null,
    cond: boolean,
    value: number | null,
    now: number,
    context: Record<string, string> | null,
  ): AlertInstance | null {
    const nodes = this.byRule[rule.index]!;
    let perNode = nodes.get(node.id);
    let inst = perNode?.get(gpu ?? '');
    if (!cond) {
      if (inst) this.deactivate(inst, now);
      return inst ?? null;
    }
    if (context !== null && inst) inst.context = context;
    if (inst === undefined) {
      if (this.byId.size >= this.o.maxInstances) {
        this.dropped++;
        return null;
      }
      inst = {
        id: alertId(rule.name, node.id, gpu),
        rule,
        nodeId: node.id,
        gpu,
        hostname: node.hostname,
        gpuIndex,
        state: 'pending',
        activeAt: now,
        firedAt: null,
        resolvedAt: null,
        value,
        context,
        notified: false,
        told: new Set(),
        sentAt: null,
        seen: this.o.stamp(),
        labels: alertLabels(rule, node, gpu, this.o.labelsOf(node.id)),
      };
      if (perNode === undefined) {
        perNode = new Map();
        nodes.set(node.id, perNode);
      }
      perNode.set(gpu ?? '', inst);
      this.byId.set(inst.id, inst);
      this.begin(inst, 'inactive', now);
      return inst;
    }
    inst.value = value;
    if (gpuIndex !== null) inst.gpuIndex = gpuIndex;
    if (inst.state === 'resolved') {
      // The same key again: the one instance becomes active again (no duplicate).
      this.resolved.delete(inst);
      inst.activeAt = now;
      inst.firedAt = null;
      inst.resolvedAt = null;
      this.begin(inst, 'resolved', now);
    } else if (inst.state === 'pending' && now - inst.activeAt >= rule.forMs) {
      this.fire(inst, now);
    }
    return inst;
  }

  private begin(inst: AlertInstance, from: 'inactive' | 'resolved', now: number): void {
    if (inst.rule.forMs <= 0) {
      // No `for`: straight to firing, as Prometheus does.
      inst.state = 'firing';
      inst.firedAt = now;
      this.firing.add(inst);
      this.record(inst, from, now);
      this.o.notify(inst, now);
      return;
    }
    inst.state = 'pending';
    this.pending.add(inst);
    this.record(inst, from, now);
  }

  fire(inst: AlertInstance, now: number): void {
    this.pending.delete(inst);
    inst.state = 'firing';
    inst.firedAt = now;
    this.firing.add(inst);
    this.record(inst, 'pending', now);
    this.o.notify(inst, now);
  }

  /** The condition stopped holding: a pending alert is forgotten, a firing one resolves. */
  deactivate(inst: AlertInstance, now: number): void {
    if (inst.state === 'pending') {
      this.pending.delete(inst);
      this.o.history.push({ ...this.entry(inst, now), from: 'pending', to: 'inactive' });
      this.remove(inst);
    } else if (inst.state === 'firing') {
      this.firing.delete(inst);
      inst.state = 'resolved';
      inst.resolvedAt = now;
      this.resolved.add(inst);
      this.record(inst, 'firing', now);
      this.o.notify(inst, now);
    }
  }

  remove(inst: AlertInstance): void {
    this.pending.delete(inst);
    this.firing.delete(inst);
    this.resolved.delete(inst);
    this.byId.delete(inst.id);
    const nodes = this.byRule[inst.rule.index]!;
    const perNode = nodes.get(inst.nodeId);
    if (perNode?.get(inst.gpu ?? '') === inst) {
      perNode.delete(inst.gpu ?? '');
      if (perNode.size === 0) nodes.delete(inst.nodeId);
    }
  }

  private entry(inst: AlertInstance, now: number) {
    return {
      at: now,
      alertId: inst.id,
      rule: inst.rule.name,
      severity: inst.rule.severity,
      nodeId: inst.nodeId,
      hostname: inst.hostname,
      gpu: inst.gpu,
      value: inst.value,
    };
  }

  private record(inst: AlertInstance, from: 'inactive' | 'pending' | 'firing' | 'resolved', now: number): void {
    this.o.history.push({ ...this.entry(inst, now), from, to: inst.state });
  }
}
