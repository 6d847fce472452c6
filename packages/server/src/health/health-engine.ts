import type { GpuHealthView, HealthFindingView, HealthVerdict, MetricsBody, NodeHealthView } from '@gpufleet/protocol';
import type { AgentEventRecord, HealthEventInput, HealthFindingRecord, NodeRecord, Store } from '../store/store.js';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { NodeStateMachine } from './node-state-machine.js';
import type { CompiledRule, HealthPolicy } from './health-policy.js';
import { FindingBook } from './finding-book.js';
import { MetricWatch, type MetricEvidence, type MetricWatchHost } from './metric-watch.js';
import { StateReconciler } from './state-reconciler.js';
import { eventCause, eventEvidence, eventFacts, eventMatches, type EventFacts } from './event-match.js';
import { eventGpuKey } from './gpu-keys.js';
import { EventCounter } from './event-counter.js';
import { formatMs, metricCause } from './causes.js';
import { LastXid } from './last-xid.js';

const ENGINE = 'health-engine';
const WINDOW_SLACK_MS = 3_600_000;

/** A finding of a rule with the `alert` action that starts or ends (for the alerting engine). */
export interface PolicyAlert {
  state: 'firing' | 'resolved';
  nodeId: string;
  gpuKey: string | null;
  rule: string;
  verdict: HealthVerdict;
  cause: string;
  evidence: unknown;
  at: number;
}

/** What the engine reads of the fleet and acts through (NodeRegistry fits; health imports no service). */
export interface HealthFleet {
  get(id: string): NodeRecord | undefined;
  isOnline(id: string): boolean;
  lastSeen(id: string): number | null;
  readonly states: NodeStateMachine;
}

export interface HealthEngineOptions {
  policy: HealthPolicy;
  store: Store;
  registry: HealthFleet;
  clock: Clock;
  hub: EventHub;
  /** After this long without a frame, an otherwise healthy node (and its GPUs) reads `unknown`. */
  offlineGraceMs: number;
  log?: { warn(obj: object, msg: string): void };
  /** Told when a finding of a rule with the `alert` action starts or ends (the alert engine). Required: the action must not fall silent. */
  onAlert: (alert: PolicyAlert) => void;
}

/** Stored events read back when a node's session moves here: enough for any count rule's window. */
const ADOPT_EVENTS_LIMIT = 5000;

/** One match kept for a window/count rule. */
interface WindowEntry {
  ts: number;
  seq: number;
  code: number | null;
  line: string;
}

/**
 * The server's health judgement. It reads agent events (`onAgentEvent`) and metrics frames
 * (`onMetrics`), applies the policy, and keeps per-GPU and per-node verdicts as findings that
 * stick until their rule's recovery holds (`tick`) or an operator clears them (`clear`). Every
 * change is stored with its cause and evidence, announced on the hub as a `health` event, and
 * turned into state actions (cordon a GPU, cordon or drain the node) through the registry's
 * state machine. Store writes and actions run in order on one chain; `flush()` waits for them.
 */
export class HealthEngine implements MetricWatchHost {
  private readonly book = new FindingBook();
  private readonly windows = new Map<string, WindowEntry[]>();
  private readonly watch: MetricWatch;
  private readonly reconciler: StateReconciler;
  private chain: Promise<void> = Promise.resolve();
  private adopting: Promise<void> = Promise.resolve();
  private findingsRead: { at: number; rows: Promise<HealthFindingRecord[]> } | null = null;
  /** Agent events seen since start, by kind and code (gpufleet_health_events_total). */
  readonly counts = new EventCounter();
  /** The last XID per GPU (DCGM_FI_DEV_XID_ERRORS on /metrics). */
  readonly lastXid = new LastXid();

  constructor(private readonly o: HealthEngineOptions) {
    this.watch = new MetricWatch(o.policy.metricRules, this);
    this.reconciler = new StateReconciler({ policy: o.policy, states: o.registry.states, nodes: o.registry, ...(o.log ? { log: o.log } : {}) });
  }

  get policy(): HealthPolicy {
    return this.o.policy;
  }

  /** Reads the active findings back (after a restart verdicts are where they were). */
  async load(): Promise<void> {
    this.book.clear();
    for (const f of await this.o.store.listFindings()) this.book.put(f);
  }

  /**
   * The active findings of rules with the `alert` action, as firing policy alerts: after a
   * restart the alert engine (in memory) learns them again, so they can still resolve.
   */
  activeAlerts(): PolicyAlert[] {
    const out: PolicyAlert[] = [];
    for (const f of this.book.all()) {
      const rule = this.o.policy.rule(f.rule);
      if (rule?.actions.includes('alert'))
        out.push({ state: 'firing', nodeId: f.nodeId, gpuKey: f.gpuKey, rule: f.rule, verdict: f.verdict, cause: f.cause, evidence: f.evidence, at: f.since });
    }
    return out;
  }

  /** Waits until every store write and state action queued so far has run. */
  flush(): Promise<void> {
    return this.chain;
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work);
    this.chain = run.then(
      () => undefined,
      (err: Error) => this.o.log?.warn({ err: err.message }, 'health: could not store or apply a change'),
    );
    return run;
  }

  // ---- input ----

  /** An outbox event the gateway has stored. Cheap for kinds no rule looks at. */
  onAgentEvent(record: AgentEventRecord): void {
    const f = eventFacts(record);
    this.counts.count(f);
    this.lastXid.observe(f, this.o.registry.get(record.nodeId)?.gpus ?? []);
    if (this.o.policy.recoveryEvents.has(record.kind)) this.recoverOn(record);
    const rules = this.o.policy.byEventKind.get(record.kind);
    if (!rules) return;
    const node = this.o.registry.get(record.nodeId);
    if (!node || node.adminState === 'decommissioned') return;
    const gpuKey = eventGpuKey(node.gpus, record.gpuUuid, record.pciBusId);
    const now = this.o.clock.now();
    const matches: HealthEventInput[] = [];
    for (const rule of rules) {
      if (!eventMatches(rule, f)) continue;
      const target = rule.scope === 'node' ? null : gpuKey;
      if (rule.verdict === 'healthy') {
        matches.push({
          at: now,
          nodeId: node.id,
          gpuKey: target,
          type: 'match',
          rule: rule.name,
          op: null,
          from: null,
          to: 'healthy',
          actor: ENGINE,
          reason: `${eventCause(f)}: ${rule.description}`,
          evidence: eventEvidence(f),
        });
        continue;
      }
      if (rule.count !== null) {
        const seen = this.remember(node.id, target, rule, f);
        if (seen.length < rule.count) continue;
        const codes = seen.map((e) => (e.code === null ? record.kind : `${record.kind === 'sxid' ? 'SXid' : 'XID'} ${e.code}`));
        const cause = `${seen.length} matches within ${rule.spec.window}: ${[...new Set(codes)].join(', ')} (${rule.description})`;
        this.addFinding(
          node.id,
          target,
          rule,
          cause,
          { window: rule.spec.window, count: rule.count, events: seen.slice(-Math.max(rule.count, 10)), last: eventEvidence(f) },
          now,
          true,
        );
        continue;
      }
      this.addFinding(node.id, target, rule, eventCause(f), eventEvidence(f), now, true);
    }
    if (matches.length > 0) void this.enqueue(() => this.o.store.appendHealthEvents(matches));
  }

  /** A metrics frame: every metric rule on every GPU sample (the hot path, see MetricWatch). */
  onMetrics(nodeId: string, body: MetricsBody): void {
    this.watch.observe(nodeId, body, this.o.clock.now());
  }

  private remember(nodeId: string, target: string | null, rule: CompiledRule, f: EventFacts): WindowEntry[] {
    const key = `${nodeId}\u0000${target ?? ''}\u0000${rule.name}`;
    const from = f.record.ts - rule.windowMs!;
    const list = (this.windows.get(key) ?? []).filter((e) => e.ts > from);
    // An outbox item the store already had (resent after a restart) must not count twice.
    if (!list.some((e) => e.seq === f.record.seq && e.ts === f.record.ts))
      list.push({ ts: f.record.ts, seq: f.record.seq, code: f.code, line: f.line.slice(0, 500) });
    // Outbox replays can bring events late: keep them in time order and the list bounded.
    list.sort((a, b) => a.ts - b.ts);
    this.windows.set(key, list.slice(-Math.max(rule.count! * 2, 20)));
    return this.windows.get(key)!;
  }

  /**
   * The node's agent session came to this replica (another one died, or this one restarted):
   * its findings are read again from the store and its count windows rebuilt from its stored
   * events, so a replica move neither forgets a verdict nor restarts a count (3 XIDs in 10 min
   * stay 3). Events already counted are not counted twice (remember() skips a known seq).
   */
  adoptNode(nodeId: string): Promise<void> {
    // One at a time: a replica taking thousands of sessions at once must not flood the store.
    this.adopting = this.adopting
      .then(() => this.adopt(nodeId))
      .catch((err: Error) => this.o.log?.warn({ nodeId, err: err.message }, 'health: could not rebuild a node moved here'));
    return this.adopting;
  }

  private async adopt(nodeId: string): Promise<void> {
    const node = this.o.registry.get(nodeId);
    if (!node) return;
    const counted = this.o.policy.rules.filter((r) => r.count !== null && r.windowMs !== null);
    const widest = Math.max(0, ...counted.map((r) => r.windowMs!));
    if (widest > 0) {
      const since = this.o.clock.now() - widest - 60_000;
      const events = await this.o.store.listAgentEvents({ nodeId, since, limit: ADOPT_EVENTS_LIMIT });
      for (const record of events.reverse()) {
        const rules = this.o.policy.byEventKind.get(record.kind)?.filter((r) => r.count !== null);
        if (!rules || rules.length === 0) continue;
        const f = eventFacts(record);
        const gpuKey = eventGpuKey(node.gpus, record.gpuUuid, record.pciBusId);
        for (const rule of rules) if (eventMatches(rule, f)) this.remember(nodeId, rule.scope === 'node' ? null : gpuKey, rule, f);
      }
    }
    await this.enqueue(async () => {
      const { at, rows } = await this.storedFindings();
      const stored = rows.filter((f) => f.nodeId === nodeId);
      const key = (f: HealthFindingRecord) => `${f.gpuKey ?? ''}\u0000${f.rule}`;
      const storedKeys = new Set(stored.map(key));
      // Gone from the store: another replica ended it. Newer than the read: made here meanwhile, kept.
      for (const f of this.book.ofNode(nodeId)) if (!storedKeys.has(key(f)) && f.since < at) this.book.delete(f.nodeId, f.gpuKey, f.rule);
      for (const f of stored) if (!this.book.get(f.nodeId, f.gpuKey, f.rule)) this.book.put(f);
    });
  }

  /** The stored findings, read once for a burst of adoptions (a second at most). */
  private async storedFindings(): Promise<{ at: number; rows: HealthFindingRecord[] }> {
    const now = this.o.clock.now();
    if (this.findingsRead === null || now - this.findingsRead.at > 1000) this.findingsRead = { at: now, rows: this.o.store.listFindings() };
    return { at: this.findingsRead.at, rows: await this.findingsRead.rows };
  }

  // ---- MetricWatchHost ----

  isActive(nodeId: string, gpuKey: string, rule: CompiledRule): boolean {
    return this.book.get(nodeId, gpuKey, rule.name) !== undefined;
  }

  fire(nodeId: string, gpuKey: string, rule: CompiledRule, at: number, evidence: MetricEvidence): void {
    this.addFinding(nodeId, gpuKey, rule, metricCause(rule, evidence), evidence, at, false);
  }

  rematch(nodeId: string, gpuKey: string, rule: CompiledRule, at: number): void {
    const f = this.book.get(nodeId, gpuKey, rule.name);
    // In memory only: a metric matches every sample, and recovery by metric does not need it.
    if (f && at > f.lastMatchAt) f.lastMatchAt = at;
  }

  recover(nodeId: string, gpuKey: string, rule: CompiledRule, _at: number, evidence: MetricEvidence): void {
    const f = this.book.get(nodeId, gpuKey, rule.name);
    if (f) this.removeFindings([f], ENGINE, `recovered: ${metricCause(rule, evidence, true)}`, evidence);
  }

  // ---- findings ----

  private addFinding(nodeId: string, gpuKey: string | null, rule: CompiledRule, cause: string, evidence: unknown, at: number, persistRematch: boolean): void {
    const existing = this.book.get(nodeId, gpuKey, rule.name);
    if (existing) {
      existing.lastMatchAt = Math.max(existing.lastMatchAt, at);
      const copy = { ...existing };
      if (persistRematch) void this.enqueue(() => this.o.store.saveFindings({ upsert: [copy], remove: [], events: [] }));
      return;
    }
    const now = this.o.clock.now();
    const before = this.book.target(nodeId, gpuKey).verdict;
    const nodeBefore = this.book.node(nodeId).verdict;
    const f: HealthFindingRecord = {
      nodeId,
      gpuKey,
      rule: rule.name,
      verdict: rule.verdict as HealthFindingRecord['verdict'],
      cause,
      evidence,
      since: now,
      lastMatchAt: at,
    };
    this.book.put(f);
    const after = this.book.target(nodeId, gpuKey).verdict;
    const nodeAfter = this.book.node(nodeId).verdict;
    const event: HealthEventInput = {
      at: now,
      nodeId,
      gpuKey,
      type: 'verdict',
      rule: rule.name,
      op: null,
      from: before,
      to: after,
      actor: ENGINE,
      reason: cause,
      evidence,
    };
    const saved = { ...f };
    void this.enqueue(async () => {
      await this.o.store.saveFindings({ upsert: [saved], remove: [], events: [event] });
      this.announce(nodeId, gpuKey, before, after, nodeBefore, nodeAfter, rule.name, cause);
      if (rule.actions.includes('alert')) this.o.onAlert({ state: 'firing', nodeId, gpuKey, rule: rule.name, verdict: rule.verdict, cause, evidence, at: now });
      await this.reconciler.reconcile(nodeId, this.book);
    });
  }

  /**
   * Ends findings (recovery or clear) with one timeline record each, then brings states in line
   * (unless the caller does that itself, as a clear does). Resolves once stored.
   */
  private removeFindings(list: HealthFindingRecord[], actor: string, reason: string, evidence: unknown, reconcile = true): Promise<void> {
    const now = this.o.clock.now();
    const events: HealthEventInput[] = [];
    const announcements: Array<() => void> = [];
    const nodes = new Set<string>();
    for (const f of list) {
      const nodeBefore = this.book.node(f.nodeId).verdict;
      const before = this.book.target(f.nodeId, f.gpuKey).verdict;
      if (!this.book.delete(f.nodeId, f.gpuKey, f.rule)) continue;
      const rest = this.book.target(f.nodeId, f.gpuKey);
      const nodeAfter = this.book.node(f.nodeId).verdict;
      nodes.add(f.nodeId);
      events.push({
        at: now,
        nodeId: f.nodeId,
        gpuKey: f.gpuKey,
        type: 'verdict',
        rule: f.rule,
        op: null,
        from: before,
        to: rest.verdict,
        actor,
        reason,
        evidence: evidence ?? { ended: f.cause },
      });
      const rule = this.o.policy.rule(f.rule);
      announcements.push(() => {
        this.announce(f.nodeId, f.gpuKey, before, rest.verdict, nodeBefore, nodeAfter, rest.finding?.rule ?? f.rule, rest.finding?.cause ?? reason);
        if (rule?.actions.includes('alert'))
          this.o.onAlert({ state: 'resolved', nodeId: f.nodeId, gpuKey: f.gpuKey, rule: f.rule, verdict: f.verdict, cause: reason, evidence, at: now });
      });
    }
    const removed = list.map((f) => ({ nodeId: f.nodeId, gpuKey: f.gpuKey, rule: f.rule }));
    return this.enqueue(async () => {
      if (events.length === 0) return;
      await this.o.store.saveFindings({ upsert: [], remove: removed, events });
      for (const a of announcements) a();
      if (reconcile) for (const nodeId of nodes) await this.reconciler.reconcile(nodeId, this.book);
    });
  }

  private announce(
    nodeId: string,
    gpuKey: string | null,
    before: HealthVerdict,
    after: HealthVerdict,
    nodeBefore: HealthVerdict,
    nodeAfter: HealthVerdict,
    rule: string,
    cause: string,
  ): void {
    // The rule and cause told are those that decide the verdict now (the worst finding), not
    // merely the one that changed: a degraded finding added under an unhealthy one must not
    // read as "unhealthy because of" the degraded rule (alerting keys paging on that rule).
    const decides = (worst: { finding: { rule: string; cause: string } | null }) => worst.finding ?? { rule, cause };
    const target = decides(this.book.target(nodeId, gpuKey));
    this.o.hub.publish({ type: 'health', nodeId, gpuKey, verdict: after, previous: before, rule: target.rule, cause: target.cause });
    if (gpuKey !== null && nodeAfter !== nodeBefore) {
      const node = decides(this.book.node(nodeId));
      this.o.hub.publish({ type: 'health', nodeId, gpuKey: null, verdict: nodeAfter, previous: nodeBefore, rule: node.rule, cause: node.cause });
    }
  }

  private recoverOn(record: AgentEventRecord): void {
    const node = this.o.registry.get(record.nodeId);
    const gpuKey = eventGpuKey(node?.gpus ?? [], record.gpuUuid, record.pciBusId);
    const ending = this.book.ofNode(record.nodeId).filter((f) => {
      const r = this.o.policy.rule(f.rule)?.recover;
      return r?.type === 'on' && r.event === record.kind && (f.gpuKey === null || f.gpuKey === gpuKey);
    });
    if (ending.length > 0) void this.removeFindings(ending, ENGINE, `recovered: ${record.kind}: ${record.message}`, eventEvidence(eventFacts(record)));
  }

  /** Ends findings whose `recover.after` has passed without a new match; prunes count windows. */
  tick(now = this.o.clock.now()): void {
    const due: HealthFindingRecord[] = [];
    for (const f of this.book.all()) {
      const rec = this.o.policy.rule(f.rule)?.recover;
      if (rec?.type === 'after' && now - f.lastMatchAt >= rec.ms) due.push(f);
    }
    for (const f of due) {
      const rec = this.o.policy.rule(f.rule)!.recover as { ms: number };
      void this.removeFindings([f], ENGINE, `recovered: no new match for ${formatMs(rec.ms)}`, { lastMatchAt: f.lastMatchAt });
    }
    // Memory hygiene only (windows are counted on event times): an hour of slack keeps windows
    // whose events were stamped by an agent clock behind ours or arrive late from an outbox.
    for (const [key, list] of this.windows) {
      const rule = this.o.policy.rule(key.slice(key.lastIndexOf('\u0000') + 1));
      if (!rule || list.length === 0 || now - list[list.length - 1]!.ts > rule.windowMs! + WINDOW_SLACK_MS) this.windows.delete(key);
    }
  }

  /**
   * An operator's clear of a GPU (by key) or of the node and all its GPUs (null): the findings
   * end, count windows and metric runs start over, and UNHEALTHY states and the policy's cordons
   * go back to READY. Resolves once stored, with how many findings ended.
   */
  async clear(nodeId: string, gpuKey: string | null, by: string, reason: string): Promise<{ cleared: number }> {
    const list = gpuKey === null ? this.book.ofNode(nodeId) : this.book.onTarget(nodeId, gpuKey);
    const done = this.removeFindings(list, by, `cleared: ${reason}`, null, false);
    for (const key of this.windows.keys()) {
      if (key.startsWith(`${nodeId}\u0000${gpuKey === null ? '' : `${gpuKey}\u0000`}`)) this.windows.delete(key);
    }
    this.watch.reset(nodeId, gpuKey);
    await done;
    await this.enqueue(async () => {
      await this.reconciler.release(nodeId, gpuKey, by, reason);
      await this.reconciler.reconcile(nodeId, this.book);
    });
    return { cleared: list.length };
  }

  // ---- HealthReader ----

  private offlinePastGrace(nodeId: string): boolean {
    if (this.o.registry.isOnline(nodeId)) return false;
    const seen = this.o.registry.lastSeen(nodeId);
    return seen === null || this.o.clock.now() - seen >= this.o.offlineGraceMs;
  }

  gpuHealth(nodeId: string, gpuKey: string, hasSample: boolean): GpuHealthView {
    const w = this.book.target(nodeId, gpuKey);
    if (w.finding) return { verdict: w.verdict, rule: w.finding.rule, cause: w.finding.cause, since: new Date(w.finding.since).toISOString() };
    if (this.offlinePastGrace(nodeId)) return { verdict: 'unknown', rule: null, cause: 'the node has been offline longer than the grace period', since: null };
    if (!hasSample) return { verdict: 'unknown', rule: null, cause: 'no readings from this GPU', since: null };
    return { verdict: 'healthy', rule: null, cause: null, since: null };
  }

  nodeHealth(nodeId: string): NodeHealthView {
    const w = this.book.node(nodeId);
    const findings = this.findings(nodeId);
    if (w.finding) return { verdict: w.verdict, rule: w.finding.rule, cause: w.finding.cause, since: new Date(w.finding.since).toISOString(), findings };
    if (this.offlinePastGrace(nodeId)) return { verdict: 'unknown', rule: null, cause: 'offline longer than the grace period', since: null, findings };
    return { verdict: 'healthy', rule: null, cause: null, since: null, findings };
  }

  /** The active findings of a node (its GPUs' included), oldest first. */
  findings(nodeId: string): HealthFindingView[] {
    return this.book
      .ofNode(nodeId)
      .sort((a, b) => a.since - b.since)
      .map((f) => ({
        gpu: f.gpuKey,
        rule: f.rule,
        verdict: f.verdict,
        cause: f.cause,
        since: new Date(f.since).toISOString(),
        lastMatchAt: new Date(f.lastMatchAt).toISOString(),
        evidence: f.evidence,
      }));
  }

  /** Verdict of one GPU or of the node (null) from the findings alone (no liveness). */
  verdictOf(nodeId: string, gpuKey: string | null): HealthVerdict {
    return gpuKey === null ? this.book.node(nodeId).verdict : this.book.target(nodeId, gpuKey).verdict;
  }
}
