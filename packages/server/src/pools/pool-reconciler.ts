import { shortGpuModel, type PoolSpec } from '@gpufleet/protocol';
import { formatMs } from '../health/causes.js';
import type { NodeRecord } from '../store/store.js';
import type { PoolConfigRecord, PoolMemberRecord, PoolOperationRecord, PoolStateRecord } from '../store/pool-records.js';
import { decideScale, heldScaleUp, type AutoscaleInput } from './autoscale-decision.js';
import { OperationRunner } from './operation-runner.js';
import type { PoolPass } from './step-kit.js';
import type { PoolEventLog } from './pool-event-log.js';
import { availabilityOf, memberFacts, nodesLeaving, poolSize, removalCandidates, tokenIndex, type MemberFacts } from './pool-facts.js';
import { LostMembers } from './lost-members.js';
import { newOp } from './pool-operation-records.js';
import type { PoolManagerOptions } from './pool-manager-options.js';
import { nodesFor, type NodeTemplate } from './pending-fit.js';
import type { PendingSlots } from './pools-api.js';
import type { BuiltProvider } from './provider-set.js';
import { chooseReplacements } from './replacement-choice.js';
import { chooseRemovals } from './scale-down-choice.js';
import { mayTakeDown } from './unavailable-budget.js';

/** Provider calls started side by side within one pass of one pool. */
const PARALLEL_PROVIDER_CALLS = 8;
/** How often an instance type is described again while the pool has no node to learn from. */
const DESCRIBE_EVERY_MS = 5 * 60_000;
/** A size sample per pool this often, kept this long. */
export const SAMPLE_EVERY_MS = 60_000;
export const SAMPLES_KEPT_MS = 24 * 3_600_000;

/** How long after its n-th failed replacement a node is tried again. */
export function replaceRetryMs(replaceAfterMs: number, failures: number): number {
  return Math.min(3_600_000, Math.max(replaceAfterMs, 60_000) * 2 ** Math.max(0, failures - 1));
}

/**
 * One pool, one pass: members follow their nodes, unhealthy members get replacements, the
 * autoscaler decides, provisions and scale-downs start to meet the desired size, and every
 * operation in flight takes its next step. The manager runs passes of one pool one at a time.
 */
export class PoolReconciler {
  /** Since when this server has seen each member node unhealthy. */
  private readonly unhealthySince = new Map<string, number>();
  /** What a new node of each pool looks like (pending work is matched against it). */
  readonly templates = new Map<string, NodeTemplate>();
  private readonly described = new Map<string, number>();
  private readonly describedPrice = new Map<string, number | null>();
  private readonly lastSample = new Map<string, number>();
  /** The last 'held' growth reason per pool, without its countdown (said once). */
  private readonly heldScale = new Map<string, string>();
  readonly runner: OperationRunner;
  private readonly lost: LostMembers;

  constructor(
    private readonly o: PoolManagerOptions,
    private readonly events: PoolEventLog,
  ) {
    this.runner = new OperationRunner(o, events);
    this.lost = new LostMembers(o, events);
  }

  async pass(cfg: PoolConfigRecord, built: BuiltProvider | undefined, pending: readonly PendingSlots[]): Promise<void> {
    const name = cfg.name;
    const spec = cfg.spec;
    const now = this.o.clock.now();
    const nodeByToken = tokenIndex(() => this.o.registry.all());
    const records = await this.o.store.listPoolMembers({ pool: name });
    await this.followNodes(records, nodeByToken, now);
    let ops = await this.o.store.listPoolOperations({ pool: name, active: true });
    await this.lost.sweep(name, records, ops, built, now);
    let members = records.filter((r) => r.state !== 'terminated').map((r) => memberFacts(r, this.o));
    await this.learnTemplate(name, spec, members, built, now);
    let state = await this.ensureState(name, spec, members, ops, now);

    await this.replaceUnhealthy(name, spec, members, ops, now);
    ops = await this.o.store.listPoolOperations({ pool: name, active: true });
    state = await this.autoscale(name, spec, state, members, ops, pending, now);
    await this.meetDesired(name, spec, state, members, ops, now);

    // Every operation takes its next step on fresh records.
    members = (await this.o.store.listPoolMembers({ pool: name })).map((r) => memberFacts(r, this.o));
    ops = await this.o.store.listPoolOperations({ pool: name, active: true });
    await this.advance(name, spec, built, members, ops, nodeByToken);
    await this.sample(name, now);
  }

  // ---- members ----

  /** A member's node is the one that enrolled with its join token; it is active once READY; idle time is tracked for scale-down. */
  private async followNodes(records: PoolMemberRecord[], nodeByToken: (id: string) => NodeRecord | undefined, now: number): Promise<void> {
    for (let i = 0; i < records.length; i++) {
      const m = records[i]!;
      let next = m;
      if (next.nodeId === null && (next.state === 'joining' || next.state === 'provisioning')) {
        const node = nodeByToken(next.joinTokenId);
        if (node) next = { ...next, nodeId: node.id, joinedAt: node.enrolledAt };
      }
      const node = next.nodeId === null ? undefined : this.o.registry.get(next.nodeId);
      const status = node ? this.o.registry.status(node) : null;
      if (node && status === 'READY' && (next.state === 'joining' || next.state === 'provisioning')) next = { ...next, state: 'active' };
      if (next.state === 'active') {
        let busy = status !== 'READY';
        if (node && !busy) {
          busy = this.o.allocatedGpus(node.id) > 0;
          for (const work of this.o.runningWork) if (work.runningOn(node.id) > 0) busy = true;
        }
        const idleSince = busy ? null : (next.idleSince ?? now);
        if (idleSince !== next.idleSince) next = { ...next, idleSince };
      }
      if (next !== m) {
        await this.o.store.putPoolMember(next);
        records[i] = next;
      }
    }
  }

  private async learnTemplate(name: string, spec: PoolSpec, members: MemberFacts[], built: BuiltProvider | undefined, now: number): Promise<void> {
    const sample = members.find((m) => m.node && m.node.gpus.length > 0);
    if (sample?.node) {
      const labels = { ...this.o.registry.labelsOf(sample.node.id) };
      delete labels.hostname;
      const gpu = sample.node.gpus[0]!;
      this.templates.set(name, { gpus: sample.node.gpus.length, gpuModel: gpu.name, gpuMemoryBytes: gpu.memoryTotalBytes ?? null, labels });
      return;
    }
    if (!built || now - (this.described.get(name) ?? -Infinity) < DESCRIBE_EVERY_MS) return;
    this.described.set(name, now);
    try {
      const info = (await built.provider.describe([spec.instanceType])).find((i) => i.instanceType === spec.instanceType);
      if (!info) return;
      this.describedPrice.set(name, info.pricePerHour);
      this.templates.set(name, { gpus: info.gpus, gpuModel: info.gpuModel, gpuMemoryBytes: null, labels: { ...spec.labels, pool: name } });
    } catch (err) {
      this.o.log.warn({ pool: name, err: (err as Error).message }, 'describing the pool instance type failed');
    }
  }

  /** The provider's list price of the pool's instance type, when it gave one. */
  listPrice(pool: string): number | null {
    return this.describedPrice.get(pool) ?? null;
  }

  private async ensureState(name: string, spec: PoolSpec, members: MemberFacts[], ops: PoolOperationRecord[], now: number): Promise<PoolStateRecord> {
    const stored = await this.o.store.getPoolState(name);
    let state: PoolStateRecord = stored ?? {
      pool: name,
      desired: Math.max(spec.minNodes, poolSize(members, ops).size),
      desiredSource: 'min',
      manualReason: null,
      lastScaleUpAt: null,
      lastScaleDownAt: null,
      updatedAt: now,
    };
    // A pools file applied since may have moved the range.
    if (state.desired < spec.minNodes) state = { ...state, desired: spec.minNodes, desiredSource: 'min', manualReason: null, updatedAt: now };
    if (state.desired > spec.maxNodes) state = { ...state, desired: spec.maxNodes, updatedAt: now };
    if (state !== stored) await this.o.store.putPoolState(state);
    return state;
  }

  // ---- decisions ----

  private async replaceUnhealthy(name: string, spec: PoolSpec, members: MemberFacts[], ops: PoolOperationRecord[], now: number): Promise<void> {
    const unhealthy = [];
    const offline = new Set<string>();
    for (const m of members) {
      const nodeId = m.record.nodeId;
      if (nodeId === null || m.record.state !== 'active') continue;
      // A member gone OFFLINE is lost capacity too (a crashed machine never says it is unhealthy).
      // Counted from when this server saw it so, so a restarted server does not replace a fleet still reconnecting.
      if (m.status === 'OFFLINE') offline.add(nodeId);
      if (m.verdict !== 'unhealthy' && m.status !== 'OFFLINE') {
        this.unhealthySince.delete(nodeId);
        this.runner.replaceFailures.delete(nodeId);
        continue;
      }
      const since = this.unhealthySince.get(nodeId) ?? now;
      this.unhealthySince.set(nodeId, since);
      // A replacement that failed is tried again later: replace_after (at least a minute), doubling with each failure, at most an hour.
      const failed = this.runner.replaceFailures.get(nodeId);
      if (failed !== undefined && now - failed.at < replaceRetryMs(spec.health.replaceAfterMs, failed.count)) continue;
      unhealthy.push({ nodeId, unhealthySince: since });
    }
    const chosen = chooseReplacements(unhealthy, {
      now,
      replaceAfterMs: spec.health.replaceAfterMs,
      inFlight: ops.filter((op) => op.kind === 'replace').length,
      maxParallel: spec.health.maxParallelReplacements,
      beingReplaced: nodesLeaving(ops),
    });
    for (const u of chosen) {
      const node = this.o.registry.get(u.nodeId);
      const what = offline.has(u.nodeId) ? 'offline' : 'unhealthy';
      await this.startReplace(name, u.nodeId, `${node?.hostname ?? u.nodeId} ${what} for ${formatMs(now - u.unhealthySince)}`, now);
    }
  }

  /** Records a replace operation (the runner cordons the node and provisions its successor). */
  async startReplace(pool: string, nodeId: string, reason: string, now: number): Promise<PoolOperationRecord> {
    const op = newOp(pool, 'replace', 'requested', reason, now, { oldNodeId: nodeId });
    await this.o.store.insertPoolOperation(op);
    await this.events.emit(pool, 'replace-started', `replacing ${this.o.registry.get(nodeId)?.hostname ?? nodeId}: ${reason}`, { operationId: op.id, nodeId });
    return op;
  }

  private async autoscale(
    name: string,
    spec: PoolSpec,
    state: PoolStateRecord,
    members: MemberFacts[],
    ops: PoolOperationRecord[],
    pending: readonly PendingSlots[],
    now: number,
  ): Promise<PoolStateRecord> {
    if (spec.autoscaling === null) return state;
    const { size, coming } = poolSize(members, ops);
    const template = this.templates.get(name) ?? null;
    const ready = members.filter((m) => m.ready);
    const slots = pending.reduce((n, s) => n + s.count, 0);
    const model = pending.find((s) => s.gpuModels.length > 0)?.gpuModels[0] ?? (template?.gpuModel ? shortGpuModel(template.gpuModel) : null);
    const input: AutoscaleInput = {
      spec,
      desired: state.desired,
      desiredSource: state.desiredSource,
      lastScaleUpAt: state.lastScaleUpAt,
      lastScaleDownAt: state.lastScaleDownAt,
      now,
      size,
      coming,
      pending: { slots, nodes: template ? nodesFor(pending, template.gpus) : slots > 0 ? 1 : 0, gpuModel: model },
      allocatedGpus: ready.reduce((n, m) => n + m.allocatedGpus, 0),
      totalGpus: ready.reduce((n, m) => n + m.gpus, 0),
      idleNodes: chooseRemovals(removalCandidates(members, ops), members.length, now, spec.autoscaling.idleForMs).length,
      gpusPerNode: template?.gpus ?? null,
    };
    const decision = decideScale(input);
    if (decision === null) {
      // Work that waits and cannot be served is said once (until the reason changes).
      const held = heldScaleUp(input);
      if (held !== null && this.heldScale.get(name) !== held.replace(/\(.*left\)/, '')) await this.events.emit(name, 'held', held);
      if (held === null) this.heldScale.delete(name);
      else this.heldScale.set(name, held.replace(/\(.*left\)/, ''));
      return state;
    }
    this.heldScale.delete(name);
    const next: PoolStateRecord = {
      ...state,
      desired: decision.desired,
      desiredSource: 'autoscale',
      manualReason: null,
      ...(decision.direction === 'up' ? { lastScaleUpAt: now } : { lastScaleDownAt: now }),
      updatedAt: now,
    };
    await this.o.store.putPoolState(next);
    await this.events.emit(name, decision.direction === 'up' ? 'scale-up' : 'scale-down', decision.reason);
    return next;
  }

  /** Starts provisions for a pool below its desired size, and scale-downs of idle nodes for one above it. */
  private async meetDesired(
    name: string,
    spec: PoolSpec,
    state: PoolStateRecord,
    members: MemberFacts[],
    ops: PoolOperationRecord[],
    now: number,
  ): Promise<void> {
    const { size, coming } = poolSize(members, ops);
    if (size < state.desired) {
      const why =
        state.desiredSource === 'manual'
          ? `desired ${state.desired} (pools scale${state.manualReason ? `: ${state.manualReason}` : ''})`
          : state.desiredSource === 'min'
            ? `below min_nodes ${spec.minNodes}`
            : `desired ${state.desired} (autoscaler)`;
      for (let i = size; i < state.desired; i++) {
        await this.o.store.insertPoolOperation(newOp(name, 'provision', 'requested', `${size} of ${state.desired} nodes: ${why}`, now, {}));
      }
      return;
    }
    // Provisions not sent yet are withdrawn first: cheaper than starting a node only to remove it.
    const unsent = ops.filter((op) => op.kind === 'provision' && op.stage === 'requested').reverse();
    let withdrawn = 0;
    for (const op of unsent.slice(0, size - state.desired)) {
      const why = `not needed any more: desired is ${state.desired}`;
      if (await this.o.store.updatePoolOperation(op.id, 'requested', { stage: 'failed', error: why, updatedAt: now })) withdrawn++;
    }
    if (withdrawn > 0) {
      await this.events.emit(name, 'scale-down', `withdrew ${withdrawn} provision${withdrawn === 1 ? '' : 's'} not sent yet: desired is ${state.desired}`);
      return;
    }
    // Only nodes already up count as surplus: a provision in flight is never traded for a READY node.
    const surplus = Math.min(size - coming - state.desired, size - spec.minNodes);
    if (surplus <= 0) return;
    // Scale down idle nodes only; an autoscaler decision waits idle_for, an operator's size does not.
    const idleFor = state.desiredSource === 'autoscale' ? (spec.autoscaling?.idleForMs ?? 0) : 0;
    const chosen = chooseRemovals(removalCandidates(members, ops), surplus, now, idleFor);
    const availability = availabilityOf(members, ops);
    for (const c of chosen) {
      const budget = mayTakeDown(c.nodeId, availability, spec.health.maxUnavailable);
      if (!budget.ok) break;
      for (const a of availability) if (a.nodeId === c.nodeId) a.ready = false;
      const label = this.o.registry.get(c.nodeId)?.hostname ?? c.nodeId;
      const reason = `${size} nodes, desired ${state.desired}: ${label} idle for ${formatMs(now - (c.idleSince ?? now))}`;
      const op = newOp(name, 'scale-down', 'draining', reason, now, { oldNodeId: c.nodeId, instanceId: c.instanceId });
      await this.o.store.insertPoolOperation(op);
      await this.events.emit(name, 'draining', `draining ${label} to remove it: ${reason}`, { operationId: op.id, nodeId: c.nodeId, instanceId: c.instanceId });
    }
  }

  // ---- operations ----

  private async advance(
    name: string,
    spec: PoolSpec,
    built: BuiltProvider | undefined,
    members: MemberFacts[],
    ops: PoolOperationRecord[],
    nodeByToken: (id: string) => NodeRecord | undefined,
  ): Promise<void> {
    // Replacements past `requested` are in flight; the oldest waiting ones fill the room left.
    const inFlight = ops.filter((op) => op.kind === 'replace' && op.stage !== 'requested').length;
    const room = Math.max(0, spec.health.maxParallelReplacements - inFlight);
    const replacesAllowed = new Set(
      ops
        .filter((op) => op.kind === 'replace' && op.stage === 'requested')
        .slice(0, room)
        .map((op) => op.id),
    );
    const pass: PoolPass = {
      name,
      spec,
      built,
      members,
      availability: availabilityOf(members, ops),
      replacesAllowed,
      zoneLoad: zoneLoadOf(members, ops),
      nodeByToken,
      fallbackPrice: spec.pricePerHour ?? this.listPrice(name),
    };
    const step = (op: PoolOperationRecord) =>
      this.runner.advance(op, pass).catch((err: Error) => this.o.log.warn({ pool: name, op: op.id, err: err.message }, 'pool operation step failed'));
    // Steps that touch nodes go one by one (the unavailable budget is shared); provider calls side by side.
    for (const op of ops) if (!OperationRunner.callsProviderFirst(op)) await step(op);
    const calls = ops.filter((op) => OperationRunner.callsProviderFirst(op));
    for (let i = 0; i < calls.length; i += PARALLEL_PROVIDER_CALLS) await Promise.all(calls.slice(i, i + PARALLEL_PROVIDER_CALLS).map(step));
  }

  private async sample(name: string, now: number): Promise<void> {
    if (now - (this.lastSample.get(name) ?? -Infinity) < SAMPLE_EVERY_MS) return;
    this.lastSample.set(name, now);
    const state = await this.o.store.getPoolState(name);
    const members = (await this.o.store.listPoolMembers({ pool: name })).map((r) => memberFacts(r, this.o));
    await this.o.store.appendPoolSizeSample({ pool: name, at: now, ready: members.filter((m) => m.ready).length, desired: state?.desired ?? 0 });
  }
}

/** Live members per zone plus operations that have an instance coming in a zone. */
function zoneLoadOf(members: readonly MemberFacts[], ops: readonly PoolOperationRecord[]): Map<string, number> {
  const load = new Map<string, number>();
  const add = (zone: string | null) => {
    if (zone !== null) load.set(zone, (load.get(zone) ?? 0) + 1);
  };
  const started = new Set<string>();
  for (const m of members) {
    add(m.record.zone);
    started.add(m.record.operationId);
  }
  // An operation's instance counts once: as a member once it has a record, until then here.
  for (const op of ops) if ((op.stage === 'provisioning' || op.stage === 'joining') && !started.has(op.id)) add(op.zone);
  return load;
}
