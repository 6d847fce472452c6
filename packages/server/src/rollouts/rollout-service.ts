import { createHash } from 'node:crypto';
import {
  BundleDriftData,
  FleetError,
  ROLLOUT_HOST_STATES,
  UpdateStateData,
  parseSelector,
  releaseRefText,
  type Labels,
  type NodeStatus,
  type RolloutDetail,
  type RolloutEventList,
  type RolloutList,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import { releaseViews } from '../releases/release-reads.js';
import type { LeaseRole } from '../replicas/leases.js';
import type { AgentEventRecord, NodeRecord, Store } from '../store/store.js';
import type { RolloutHostRecord, RolloutRecord } from '../store/rollout-records.js';
import { checkSignedRollout, type RolloutTrust } from './rollout-authority.js';
import { sendFrames, type UpdateFrameSender } from './rollout-frames.js';
import { abort, advance, applyReport, nodeBack, pause, resume, UPDATING_STATES, type RolloutDecision, type RolloutWorld } from './rollout-machine.js';
import { chooseHosts, newRollout } from './rollout-start.js';
import { rolloutDetail, rolloutView } from './rollout-views.js';

export interface RolloutServiceOptions {
  store: Store;
  registry: {
    all(): NodeRecord[];
    get(id: string): NodeRecord | undefined;
    status(node: NodeRecord): NodeStatus;
    labelsOf(id: string): Labels;
    isOnline(id: string): boolean;
  };
  sessions: UpdateFrameSender;
  hub: EventHub;
  clock: Clock;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  trust: RolloutTrust;
  /**
   * The `scheduler` lease: rollouts and job placement both decide what runs on hosts, and one
   * replica doing both keeps the lease set as it is (four roles, as operators know them).
   */
  lease: LeaseRole;
  /** Who holds the lease, for the refusal on other replicas (null: unknown). */
  leaseHolder?: () => { name: string; url: string } | null;
  /** How often running rollouts are looked at (host reports also wake the loop). Default 1 s. */
  tickMs?: number;
  /** An updating host that said nothing for this long gets its apply frame again. Default 15 s. */
  resendAfterMs?: number;
}

/** Why a node's status keeps it from taking an update now; null when it can. */
const UNAVAILABLE: Partial<Record<NodeStatus, string>> = {
  OFFLINE: 'offline',
  CORDONED: 'cordoned',
  DRAINING: 'draining',
  DRAINED: 'drained',
  UNHEALTHY: 'unhealthy',
  UNREACHABLE: 'unreachable',
  DECOMMISSIONED: 'removed',
  PENDING: 'pending approval',
};

/**
 * Rollouts of signed releases (issue 14): takes an operator's signed rollout, picks and orders
 * the hosts, stores everything, and moves the hosts through the steps (rollout-machine.ts
 * decides; this loads, stores, sends and records). The store is the truth: host reports are
 * written where they arrive (any replica), the loop runs on the lease holder and reads the
 * store, so a restart or a failover picks up where it was.
 */
export class RolloutService {
  private timer: NodeJS.Timeout | null = null;
  private kickTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  /** When each updating host was last sent its apply frame (rolloutId:nodeId), for the resend. */
  private readonly lastSent = new Map<string, number>();

  constructor(private readonly o: RolloutServiceOptions) {}

  start(): void {
    this.unsubscribe = this.o.hub.subscribe((e) => {
      if (e.type === 'node' && (e.change === 'status' || e.change === 'labels')) void this.onNodeChange(e.nodeId);
    });
    this.timer = setInterval(() => void this.tick(), this.o.tickMs ?? 1000);
    // Rollouts that were running before this start go on at once.
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    this.timer = this.kickTimer = null;
    this.unsubscribe?.();
    await this.idle();
  }

  /** Resolves once the work queued so far is done (tests, shutdown). */
  async idle(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  /** Runs rollout work one piece at a time in this process: a report and a tick never interleave. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private world(): RolloutWorld {
    const { registry } = this.o;
    return {
      now: this.o.clock.now(),
      unavailable: (id) => {
        const node = registry.get(id);
        return node ? (UNAVAILABLE[registry.status(node)] ?? null) : 'removed';
      },
      online: (id) => registry.isOnline(id),
    };
  }

  private requireLease(): void {
    if (this.o.lease.holds()) return;
    const holder = this.o.leaseHolder?.() ?? null;
    const where = holder
      ? `replica ${holder.name}${holder.url ? ` (${holder.url})` : ''} holds it: send rollout changes there`
      : 'no replica holds it right now: try again in a few seconds';
    throw new FleetError(
      'failed_precondition',
      `this replica does not run rollouts (they follow the scheduler lease); ${where} (gpufleet replicas ls, LEASES column)`,
    );
  }

  // ---- API ----

  async create(input: unknown, actor: string): Promise<RolloutDetail> {
    this.requireLease();
    const now = this.o.clock.now();
    const signed = checkSignedRollout(input, this.o.trust, now);
    const p = signed.payload;
    const ref = releaseRefText(p.release);
    parseSelector(p.selector); // a bad selector is refused before the repository is read
    const published = (await releaseViews(this.o.store)).find((v) => v.kind === p.release.kind && v.name === p.release.name && v.version === p.release.version);
    if (!published) throw new FleetError('not_found', `${ref} is not published in the release repository (gpufleet releases ls)`);
    if (published.sha256 !== p.target.sha256) {
      throw new FleetError(
        'failed_precondition',
        `the repository lists ${published.path} with sha256 ${published.sha256.slice(0, 12)}…, but the rollout was signed for ${p.target.sha256.slice(0, 12)}…: sign it again`,
      );
    }
    const id = `ro-${createHash('sha256').update(signed.sig).digest('hex').slice(0, 20)}`;
    return this.serial(async () => {
      if (await this.o.store.getRollout(id)) throw new FleetError('already_exists', `this signed rollout was started before (${id}): sign a new one`);
      const busy = (await this.o.store.listRollouts({ states: ['running', 'paused'] })).find((r) => r.kind === p.release.kind && r.name === p.release.name);
      if (busy) throw new FleetError('conflict', `rollout ${busy.id} of ${busy.name}@${busy.version} is ${busy.state}: abort it or let it finish first`);
      const { rollout: record, hosts } = newRollout(id, signed, chooseHosts(this.o.registry, signed, this.o.trust), actor, now);
      await this.o.store.insertRollout(record, hosts);
      await this.record(id, [{ kind: 'created', nodeId: null, message: `${ref} to ${hosts.length} hosts in ${record.steps.length} steps, by ${actor}` }]);
      const d = advance(record, hosts, this.world());
      await this.commit(d);
      return rolloutDetail(d.rollout, d.hosts);
    });
  }

  async list(): Promise<RolloutList> {
    const records = await this.o.store.listRollouts({ limit: 100 });
    const items = [];
    for (const r of records) items.push(rolloutView(r, await this.o.store.listRolloutHosts(r.id)));
    return { items };
  }

  async get(id: string): Promise<RolloutDetail> {
    const r = await this.load(id);
    return rolloutDetail(r, await this.o.store.listRolloutHosts(id));
  }

  /** A rollout's history, oldest first (after `after`, at most `limit`). */
  async events(id: string, after = 0, limit = 1000): Promise<RolloutEventList> {
    await this.load(id);
    const events = await this.o.store.listRolloutEvents(id, after, limit);
    return { items: events.map((e) => ({ id: e.id, at: new Date(e.at).toISOString(), kind: e.kind, nodeId: e.nodeId, message: e.message })) };
  }

  pause(id: string, actor: string, reason?: string): Promise<RolloutDetail> {
    return this.act(id, ['running'], 'pause', (r, hosts, now) => pause(r, hosts, now, actor, reason));
  }

  resume(id: string, actor: string, reason?: string): Promise<RolloutDetail> {
    return this.act(id, ['paused'], 'resume', (r, hosts, now) => resume(r, hosts, now, actor, reason));
  }

  abort(id: string, actor: string, opts: { rollback: boolean; reason?: string }): Promise<RolloutDetail> {
    return this.act(id, ['running', 'paused'], 'abort', (r, hosts, now) => abort(r, hosts, now, actor, opts));
  }

  private async load(id: string): Promise<RolloutRecord> {
    const r = await this.o.store.getRollout(id);
    if (!r) throw new FleetError('not_found', `no rollout '${id.slice(0, 80)}' (gpufleet rollouts ls)`);
    return r;
  }

  private async act(
    id: string,
    from: ReadonlyArray<RolloutRecord['state']>,
    verb: string,
    decide: (r: RolloutRecord, hosts: RolloutHostRecord[], now: number) => RolloutDecision,
  ): Promise<RolloutDetail> {
    this.requireLease();
    return this.serial(async () => {
      const r = await this.load(id);
      if (!from.includes(r.state)) throw new FleetError('failed_precondition', `rollout ${id} is ${r.state}: only a ${from.join(' or ')} rollout can ${verb}`);
      let d = decide(r, await this.o.store.listRolloutHosts(id), this.o.clock.now());
      await this.commit(d);
      if (d.rollout.state === 'running') {
        d = advance(d.rollout, d.hosts, this.world());
        await this.commit(d);
      }
      return rolloutDetail(d.rollout, d.hosts);
    });
  }

  // ---- the loop ----

  /** Moves every running rollout as far as it can go (lease holder only). */
  async tick(): Promise<void> {
    if (!this.o.lease.holds()) return;
    try {
      const running = await this.o.store.listRollouts({ states: ['running'] });
      for (const r of running) await this.serial(() => this.advanceOne(r.id));
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'rollout tick failed');
    }
  }

  /** Wakes the loop soon (a host reported): many reports in a burst make one pass. */
  private kick(): void {
    if (this.kickTimer || !this.o.lease.holds()) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = null;
      void this.tick();
    }, 20);
  }

  private async advanceOne(id: string): Promise<void> {
    const r = await this.o.store.getRollout(id);
    if (r?.state !== 'running') return;
    const d = advance(r, await this.o.store.listRolloutHosts(id), this.world());
    await this.commit(d);
    if (d.rollout.state !== 'running') {
      for (const h of d.hosts) this.lastSent.delete(`${id}:${h.nodeId}`);
      return;
    }
    // Updating hosts that went quiet get their apply again (a frame sent during a reconnect is lost).
    const now = this.o.clock.now();
    const again = d.hosts.filter((h) => {
      const last = this.lastSent.get(`${id}:${h.nodeId}`) ?? h.updatedAt;
      return (
        (UPDATING_STATES as readonly string[]).includes(h.state) &&
        now - Math.max(last, h.updatedAt) >= (this.o.resendAfterMs ?? 15_000) &&
        this.o.registry.isOnline(h.nodeId)
      );
    });
    if (again.length > 0)
      this.send(
        d.rollout,
        again.map((h) => ({ nodeId: h.nodeId, op: 'apply' as const })),
      );
  }

  /** Stores a decision, records its events, then sends its frames. */
  private async commit(d: RolloutDecision): Promise<void> {
    const { rollout } = d;
    if (d.rolloutChanged) {
      const { state, step, steps, forgivenFailures, message, updatedAt } = rollout;
      await this.o.store.updateRollout(rollout.id, { state, step, steps, forgivenFailures, message, updatedAt });
    }
    if (d.hostPatches.size > 0)
      await this.o.store.updateRolloutHosts(
        rollout.id,
        [...d.hostPatches].map(([nodeId, patch]) => ({ nodeId, patch })),
      );
    await this.record(rollout.id, d.events);
    this.send(rollout, d.frames);
  }

  private send(rollout: RolloutRecord, frames: RolloutDecision['frames']): void {
    if (frames.length === 0) return;
    const now = this.o.clock.now();
    for (const f of frames) if (f.op === 'apply') this.lastSent.set(`${rollout.id}:${f.nodeId}`, now);
    sendFrames(this.o.sessions, rollout, frames);
  }

  private async record(rolloutId: string, events: RolloutDecision['events']): Promise<void> {
    if (events.length === 0) return;
    const at = this.o.clock.now();
    await this.o.store.appendRolloutEvents(events.map((e) => ({ rolloutId, at, ...e })));
    for (const e of events) this.o.log.info({ rollout: rolloutId, kind: e.kind, nodeId: e.nodeId ?? undefined }, e.message);
  }

  // ---- hosts ----

  /** An `update-state` event (stored already): the host's place in its rollout moves. Any replica. */
  onHostReport(event: AgentEventRecord): Promise<void> {
    const parsed = UpdateStateData.safeParse(event.data);
    if (!parsed.success) {
      this.o.log.warn({ nodeId: event.nodeId, issue: parsed.error.issues[0]?.message }, 'an update-state event without valid data; ignored');
      return Promise.resolve();
    }
    const data = parsed.data;
    const rolloutId = data.rolloutId;
    if (rolloutId === null) return Promise.resolve(); // side-loaded: no rollout to move
    return this.serial(async () => {
      const host = (await this.o.store.rolloutHostsOfNode(event.nodeId, ROLLOUT_HOST_STATES)).find((h) => h.rolloutId === rolloutId);
      const r = host ? await this.o.store.getRollout(rolloutId) : undefined;
      if (!host || !r) return;
      const d = applyReport(r, host, data, this.o.clock.now());
      if (!d) return;
      await this.commit(d);
      this.kick();
    });
  }

  /** Another replica stored a host's report (the store has it): the loop moves sooner than its next tick. */
  onRelayedReport(): Promise<void> {
    this.kick();
    return Promise.resolve();
  }

  /** A `bundle-drift` event: noted in the history of the newest rollout of that bundle that has this host. */
  onDrift(event: AgentEventRecord): Promise<void> {
    const parsed = BundleDriftData.safeParse(event.data);
    if (!parsed.success) return Promise.resolve();
    const data = parsed.data;
    return this.serial(async () => {
      const places = await this.o.store.rolloutHostsOfNode(event.nodeId, ROLLOUT_HOST_STATES);
      const rollouts = (await Promise.all(places.map((h) => this.o.store.getRollout(h.rolloutId)))).filter(
        (r): r is RolloutRecord => r !== undefined && r.kind === 'bundle' && r.name === data.name,
      );
      const newest = rollouts.sort((a, b) => b.createdAt - a.createdAt)[0];
      if (!newest) return;
      const host = places.find((h) => h.rolloutId === newest.id)!;
      const what = data.items.map((i) => `${i.container} ${i.kind}`).join(', ');
      const message =
        data.items.length === 0
          ? `${host.hostname}: ${data.name}@${data.version} matches its desired state again`
          : `${host.hostname}: ${data.name}@${data.version} drifted: ${what}`;
      await this.record(newest.id, [{ kind: 'host-drift', nodeId: event.nodeId, message: message.slice(0, 4096) }]);
    });
  }

  /**
   * A host's session is ready (here): it gets its apply frame again if it was updating (the
   * agent's apply is idempotent), and a host skipped earlier is sent the update (lease holder).
   */
  onSessionReady(nodeId: string): void {
    void this.serial(async () => {
      const places = await this.o.store.rolloutHostsOfNode(nodeId, ['skipped', ...UPDATING_STATES]);
      for (const h of places) {
        const r = await this.o.store.getRollout(h.rolloutId);
        if (!r) continue;
        if (this.o.lease.holds()) await this.commit(nodeBack(r, [h], nodeId, this.world()));
        else if (r.state === 'running' && h.state !== 'skipped') this.send(r, [{ nodeId, op: 'apply' }]);
      }
    }).catch((err: Error) => this.o.log.warn({ nodeId, err: err.message }, 'could not resend rollout frames'));
  }

  /** A node changed (online, uncordoned...): a host skipped in a rollout may take the update now. */
  private onNodeChange(nodeId: string): Promise<void> {
    if (!this.o.lease.holds() || this.o.registry.get(nodeId) === undefined || this.world().unavailable(nodeId) !== null) return Promise.resolve();
    return this.serial(async () => {
      for (const h of await this.o.store.rolloutHostsOfNode(nodeId, ['skipped'])) {
        const r = await this.o.store.getRollout(h.rolloutId);
        if (r) await this.commit(nodeBack(r, [h], nodeId, this.world()));
      }
    }).catch((err: Error) => this.o.log.warn({ nodeId, err: err.message }, 'could not bring a returning host into its rollout'));
  }
}
