import { matchesSelector, normalizePciBusId, type MetricsBody } from '@gpufleet/protocol';
import type { HubEvent } from '../events/event-hub.js';
import type { AgentEventRecord, NodeRecord } from '../store/store.js';
import { gpuKey } from '../metrics/metric-store.js';
import type { AlertRule, HealthRule, MetricRule, OfflineRule, ReceiverConfig, XidCountRule } from './alert-rules.js';
import { gpuIndexOf, type AlertInstance } from './alert-instance.js';
import { AlertInstanceTable } from './alert-instance-table.js';
import { AlertDispatcher } from './alert-dispatch.js';
import { AlertHistory } from './alert-history.js';
import { Notifier } from './notifier.js';
import { SilenceBook } from './silences.js';
import { kernelEventCode, XidWindow } from './xid-window.js';
import { GpuVerdicts } from './gpu-verdicts.js';
import { AlertmanagerSilenceSync } from './alertmanager-silences.js';
import type { AlertEngineOptions } from './engine-options.js';

export type { AlertEngineOptions, AlertFleet } from './engine-options.js';

interface XidEntry {
  nodeId: string;
  gpu: string | null;
  win: XidWindow;
}

const KERNEL_KINDS = new Set(['xid', 'sxid', 'fallen-off-bus']);
/** Nodes a timed pass evaluates before it gives the event loop back (tickInSlices). */
const TICK_SLICE = 2000;

export type EngineLifecycle = 'starting' | 'running' | 'draining' | 'stopped';

/**
 * Evaluates alert rules into instances keyed by (rule, node, GPU) and moves them through
 * pending -> firing -> resolved. Metric and offline rules are evaluated by `tick` in one pass
 * over the fleet; health and XID rules on hub events (their `for` and windows in `tick`).
 * A pass where nothing changes allocates nothing per node: missing instances are looked up
 * in nested maps with existing strings, and selector results are cached per node until its
 * labels change.
 */
export class AlertEngine {
  readonly rules: readonly AlertRule[];
  readonly receivers: readonly ReceiverConfig[];
  readonly silences: SilenceBook;
  readonly history: AlertHistory;
  readonly notifier: Notifier;
  /** Copies silences into Alertmanager receivers. */
  readonly silenceSync: AlertmanagerSilenceSync;
  private readonly metricRules: MetricRule[];
  private readonly offlineRules: OfflineRule[];
  private readonly healthRules: HealthRule[];
  /** Rules behind the health policy's `alert` action, by policy rule name (policy-alert-rules.ts). */
  private readonly policyRules: ReadonlyMap<string, HealthRule>;
  private readonly quietPolicyRules: ReadonlySet<string>;
  private readonly xidRules: XidCountRule[];
  private readonly table: AlertInstanceTable;
  private readonly xid: Array<Map<string, XidEntry>>;
  private readonly gpuVerdicts = new GpuVerdicts();
  private readonly selectorCache = new Map<string, { labels: object; bits: Uint8Array }>();
  private readonly anySelector: boolean;
  private readonly dispatcher: AlertDispatcher;
  private readonly resolvedRetentionMs: number;
  private readonly staleAfterMs: number;
  private stamp = 0;
  private lifecycle: EngineLifecycle = 'starting';
  private timer: NodeJS.Timeout | null = null;
  /** A timed pass is going (tickInSlices). */
  private passing = false;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly opts: AlertEngineOptions) {
    this.rules = [...opts.rules.rules, ...(opts.policyRules ?? [])];
    this.receivers = opts.rules.receivers;
    this.metricRules = this.rules.filter((r): r is MetricRule => r.kind === 'metric');
    this.offlineRules = this.rules.filter((r): r is OfflineRule => r.kind === 'node-offline');
    this.healthRules = opts.rules.rules.filter((r): r is HealthRule => r.kind === 'health');
    this.policyRules = new Map((opts.policyRules ?? []).map((r) => [r.name, r]));
    this.quietPolicyRules = new Set(opts.quietPolicyRules ?? []);
    this.xidRules = this.rules.filter((r): r is XidCountRule => r.kind === 'xid-count');
    this.xid = this.rules.map(() => new Map());
    this.anySelector = this.rules.some((r) => r.selector.requirements.length > 0);
    this.resolvedRetentionMs = opts.resolvedRetentionMs ?? 15 * 60_000;
    this.staleAfterMs = opts.metricsStaleAfterMs ?? 5 * 60_000;
    this.silences = new SilenceBook({ settings: opts.settings, log: opts.log });
    this.history = new AlertHistory(opts.historyLimit ?? 10_000);
    this.notifier = new Notifier({ receivers: this.receivers, clock: opts.clock, log: opts.log, ...opts.notifier });
    this.silenceSync = new AlertmanagerSilenceSync({
      receivers: this.receivers,
      silences: this.silences,
      fetch: opts.notifier?.fetch ?? fetch,
      log: opts.log,
      random: opts.notifier?.random ?? Math.random,
    });
    this.dispatcher = new AlertDispatcher(
      {
        receivers: this.receivers,
        notifier: this.notifier,
        silences: this.silences,
        silenceMirror: this.silenceSync,
        labelsOf: (id) => opts.fleet.labelsOf(id),
        externalUrl: () => opts.externalUrl?.() ?? '',
        leadership: opts.leadership,
      },
      opts.clock.now(),
    );
    this.table = new AlertInstanceTable({
      ruleCount: this.rules.length,
      maxInstances: opts.maxInstances ?? 100_000,
      history: this.history,
      notify: (inst, now) => this.dispatcher.notify(inst, now),
      labelsOf: (id) => opts.fleet.labelsOf(id),
      stamp: () => this.stamp,
    });
  }

  /** Instances not created because maxInstances was reached. */
  get droppedInstances(): number {
    return this.table.dropped;
  }

  /** Reads the stored silences. */
  load(): Promise<void> {
    return this.silences.load();
  }

  state(): EngineLifecycle {
    return this.lifecycle;
  }

  /** Subscribes to the hub and evaluates every evaluationIntervalMs. */
  start(): void {
    if (this.lifecycle !== 'starting') return;
    if (this.opts.hub) this.unsubscribe = this.opts.hub.subscribe((e) => this.handleHubEvent(e));
    const every = this.opts.evaluationIntervalMs ?? 5000;
    if (every > 0) this.timer = setInterval(() => this.safeTick(), every);
    this.lifecycle = 'running';
  }

  private safeTick(): void {
    // A pass still going (a large fleet on a busy machine) is not joined by another.
    if (this.passing) return;
    this.passing = true;
    this.tickInSlices()
      .catch((err) => this.opts.log?.warn({ err }, 'alert evaluation failed'))
      .finally(() => (this.passing = false));
  }

  /** Stops evaluating, lets notifications in flight finish (bounded) and stores silences. */
  async stop(drainMs = 5000): Promise<void> {
    if (this.lifecycle === 'stopped' || this.lifecycle === 'draining') return;
    this.lifecycle = 'draining';
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await Promise.all([this.notifier.stop(drainMs), this.silenceSync.stop()]);
    await this.silences.flushed();
    this.lifecycle = 'stopped';
  }

  /** The engine's clock reading. */
  now(): number {
    return this.opts.clock.now();
  }

  /** A node's labels (for `{{labels.x}}` in views). */
  nodeLabels(nodeId: string): Readonly<Record<string, string>> {
    return this.opts.fleet.labelsOf(nodeId);
  }

  /** Every instance, in no particular order (views, series). */
  instances(): IterableIterator<AlertInstance> {
    return this.table.all();
  }

  getInstance(id: string): AlertInstance | undefined {
    return this.table.get(id);
  }

  /** Instance counts of a rule by state. */
  countsOf(rule: AlertRule): { pending: number; firing: number; resolved: number } {
    return this.table.countsOf(rule);
  }

  // ---- evaluation ----

  /** One pass: metric and offline rules over every node, then `for` durations, XID windows, notifications. */
  tick(now: number = this.opts.clock.now()): void {
    const stamp = ++this.stamp;
    if (this.metricRules.length > 0 || this.offlineRules.length > 0) for (const node of this.opts.fleet.all()) this.evaluateNode(node, now, stamp);
    this.finishPass(now);
  }

  /**
   * The same pass as tick(), giving the event loop back every TICK_SLICE nodes. At 100,000 nodes
   * a pass takes 0.3–0.6 s on a small machine (measured, docs/benchmarks.md): in one piece it held
   * up every heartbeat, lease renewal and request behind it every 5 s. The nodes are those of the
   * start of the pass, at one `now`; a node removed meanwhile is skipped, one changed meanwhile is
   * read as it is now.
   */
  async tickInSlices(now: number = this.opts.clock.now()): Promise<void> {
    const stamp = ++this.stamp;
    if (this.metricRules.length > 0 || this.offlineRules.length > 0) {
      const { fleet } = this.opts;
      const nodes = [...fleet.all()];
      for (let i = 0; i < nodes.length; i += TICK_SLICE) {
        if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.lifecycle !== 'running' && this.lifecycle !== 'starting') return;
        for (const seen of nodes.slice(i, i + TICK_SLICE)) {
          const node = fleet.get(seen.id);
          if (node !== undefined) this.evaluateNode(node, now, stamp);
        }
      }
    }
    this.finishPass(now);
  }

  /** Metric and offline rules over one node. */
  private evaluateNode(node: NodeRecord, now: number, stamp: number): void {
    const { fleet } = this.opts;
    const bits = this.selectorBits(node);
    if (this.offlineRules.length > 0) {
      const offline = fleet.status(node) === 'OFFLINE';
      for (const rule of this.offlineRules) {
        const cond = offline && (bits === null || bits[rule.index] === 1);
        const inst = this.table.find(rule, node.id, null);
        if (!cond && inst === undefined) continue;
        const fresh = inst === undefined || inst.state === 'resolved';
        this.table.evaluate(rule, node, null, null, cond, null, now, cond && fresh ? { since: String(node.lastSeenAt ?? now) } : null);
      }
    }
    if (this.metricRules.length > 0) {
      // Not connected, or connected but no sample for a while (collector stuck): no data, so metric alerts stop holding.
      let latest = fleet.isOnline(node.id) ? this.opts.latestMetrics(node.id) : null;
      if (latest !== null && now - latest.ts > this.staleAfterMs) latest = null;
      for (const rule of this.metricRules) this.evaluateMetric(rule, node, latest, bits, now, stamp);
    }
  }

  /** The rest of a pass: `for` durations, XID windows, silences, notifications, retention. */
  private finishPass(now: number): void {
    for (const inst of this.table.pending) if (now - inst.activeAt >= inst.rule.forMs) this.table.fire(inst, now);
    for (const rule of this.xidRules) {
      for (const [key, entry] of this.xid[rule.index]!) {
        const node = this.opts.fleet.get(entry.nodeId);
        if (node === undefined) this.xid[rule.index]!.delete(key);
        else if (this.evaluateXid(rule, node, entry, now) === 0) this.xid[rule.index]!.delete(key);
      }
    }
    this.silenceSync.sync(now);
    // Firing alerts not yet told (silenced until now, the silence just ended or reached Alertmanager).
    for (const inst of this.table.firing) if (!inst.notified) this.dispatcher.notify(inst, now);
    this.dispatcher.resend(this.table.firing, now);
    for (const inst of this.table.resolved) if (now - inst.resolvedAt! >= this.resolvedRetentionMs) this.table.remove(inst);
    this.silences.prune(now);
  }

  private evaluateMetric(rule: MetricRule, node: NodeRecord, latest: MetricsBody | null, bits: Uint8Array | null, now: number, stamp: number): void {
    const perNode = this.table.onNode(rule, node.id);
    if (latest === null || (bits !== null && bits[rule.index] !== 1)) {
      if (perNode) for (const inst of perNode.values()) this.table.deactivate(inst, now);
      return;
    }
    const above = rule.op === 'above';
    if (rule.reader.scope === 'node') {
      const v = rule.reader.read(latest.host);
      const cond = v !== null && (above ? v > rule.threshold : v < rule.threshold);
      if (cond || perNode) {
        const inst = this.table.evaluate(rule, node, null, null, cond, v, now, null);
        if (inst) inst.seen = stamp;
      }
      return;
    }
    const read = rule.reader.read;
    const gpus = latest.gpus;
    for (let i = 0; i < gpus.length; i++) {
      const g = gpus[i]!;
      const v = read(g);
      const cond = v !== null && (above ? v > rule.threshold : v < rule.threshold);
      if (!cond && perNode === undefined) continue; // the common case: nothing to do, nothing allocated
      const key = gpuKey(g);
      if (key === null) continue;
      const inst = this.table.evaluate(rule, node, key, g.index, cond, v, now, null);
      if (inst) inst.seen = stamp;
    }
    // A GPU missing from the sample has no value: its alert stops holding.
    const after = this.table.onNode(rule, node.id);
    if (after) for (const inst of after.values()) if (inst.seen !== stamp) this.table.deactivate(inst, now);
  }

  private evaluateXid(rule: XidCountRule, node: NodeRecord, entry: XidEntry, now: number): number {
    const n = entry.win.prune(now - rule.windowMs);
    const cond = n >= rule.count;
    if (!cond && this.table.find(rule, node.id, entry.gpu) === undefined) return n;
    const codes = entry.win.distinctCodes().filter((c) => c >= 0);
    const last = entry.win.lastCode();
    const context = cond ? { codes: codes.join(',') || '?', lastCode: last === null || last < 0 ? '?' : String(last) } : null;
    this.table.evaluate(rule, node, entry.gpu, entry.gpu === null ? null : gpuIndexOf(node, entry.gpu), cond, n, now, context);
    return n;
  }

  /** Hub listener: health verdicts, kernel events, removed nodes. Never throws (the hub drops listeners that do). */
  handleHubEvent(e: HubEvent): void {
    try {
      if (e.type === 'health') this.onHealth(e);
      else if (e.type === 'agent-event') this.onKernelEvent(e.event);
      else if (e.type === 'node' && e.change === 'removed') this.forgetNode(e.nodeId, this.opts.clock.now());
    } catch (err) {
      this.opts.log?.warn({ err, event: e.type }, 'alert engine could not handle an event');
    }
  }

  /**
   * A finding of a health policy rule with the `alert` action started or ended (HealthEngine's
   * onAlert): its own instance fires or resolves. Never throws.
   */
  onPolicyAlert(a: { state: 'firing' | 'resolved'; nodeId: string; gpuKey: string | null; rule: string; verdict: string; cause: string }): void {
    try {
      const rule = this.policyRules.get(a.rule);
      const node = this.opts.fleet.get(a.nodeId);
      if (rule === undefined || node === undefined) return;
      const firing = a.state === 'firing';
      const context = firing ? { verdict: a.verdict, cause: a.cause, healthRule: a.rule } : null;
      this.table.evaluate(rule, node, a.gpuKey, a.gpuKey === null ? null : gpuIndexOf(node, a.gpuKey), firing, null, this.opts.clock.now(), context);
    } catch (err) {
      this.opts.log?.warn({ err, rule: a.rule }, 'alert engine could not handle a policy alert');
    }
  }

  private onHealth(e: Extract<HubEvent, { type: 'health' }>): void {
    const node = this.opts.fleet.get(e.nodeId);
    if (node === undefined || this.healthRules.length === 0) return;
    const now = this.opts.clock.now();
    const bits = this.selectorBits(node);
    // A GPU verdict that pages nobody cannot stand in for the node's own: it counts as healthy here.
    const quietGpu = e.gpuKey !== null && this.quietPolicyRules.has(e.rule ?? '');
    const echo = this.gpuVerdicts.observe(quietGpu ? { ...e, verdict: 'healthy' } : e);
    for (const rule of this.healthRules) {
      if ((rule.scope === 'gpu' && e.gpuKey === null) || (rule.scope === 'node' && e.gpuKey !== null)) continue;
      // One page per fault: under scope `any`, the node's verdict that only repeats a GPU's
      // is that GPU's alert, not a second one for the node.
      // A verdict decided by a policy rule without the alert action pages nobody; one whose rule
      // has an alert instance of its own pages there (onPolicyAlert), not here too.
      const decidedBy = e.rule ?? '';
      const cond =
        e.verdict === rule.verdict &&
        !(rule.scope === 'any' && echo) &&
        !this.policyRules.has(decidedBy) &&
        !this.quietPolicyRules.has(decidedBy) &&
        (bits === null || bits[rule.index] === 1);
      if (!cond && this.table.find(rule, node.id, e.gpuKey) === undefined) continue;
      const context = cond ? { verdict: e.verdict, cause: e.cause, healthRule: e.rule ?? '-' } : null;
      this.table.evaluate(rule, node, e.gpuKey, e.gpuKey === null ? null : gpuIndexOf(node, e.gpuKey), cond, null, now, context);
    }
  }

  private onKernelEvent(ev: AgentEventRecord): void {
    if (this.xidRules.length === 0 || !KERNEL_KINDS.has(ev.kind)) return;
    const node = this.opts.fleet.get(ev.nodeId);
    if (node === undefined) return;
    const code = kernelEventCode(ev.kind, ev.data);
    const gpu = ev.gpuUuid || normalizePciBusId(ev.pciBusId);
    const now = this.opts.clock.now();
    // Agent clocks drift: an event "from the future" counts as now.
    const ts = Math.min(ev.ts, now);
    const bits = this.selectorBits(node);
    for (const rule of this.xidRules) {
      if (!rule.events.has(ev.kind) || (rule.codes !== null && (code === null || !rule.codes.has(code)))) continue;
      if ((bits !== null && bits[rule.index] !== 1) || now - ts >= rule.windowMs) continue;
      const key = rule.perGpu ? gpu : null;
      const windows = this.xid[rule.index]!;
      const k = `${node.id}\0${key ?? ''}`;
      let entry = windows.get(k);
      if (entry === undefined) {
        entry = { nodeId: node.id, gpu: key, win: new XidWindow(Math.max(rule.count, 100)) };
        windows.set(k, entry);
      }
      entry.win.add(ts, code ?? -1);
      this.evaluateXid(rule, node, entry, now);
    }
  }

  private forgetNode(nodeId: string, now: number): void {
    for (const rule of this.rules) {
      const perNode = this.table.onNode(rule, nodeId);
      if (perNode) for (const inst of perNode.values()) this.table.deactivate(inst, now);
      for (const [k, entry] of this.xid[rule.index]!) if (entry.nodeId === nodeId) this.xid[rule.index]!.delete(k);
    }
    this.selectorCache.delete(nodeId);
    this.gpuVerdicts.forget(nodeId);
  }

  private selectorBits(node: NodeRecord): Uint8Array | null {
    if (!this.anySelector) return null;
    const labels = this.opts.fleet.labelsOf(node.id);
    const cached = this.selectorCache.get(node.id);
    if (cached !== undefined && cached.labels === labels) return cached.bits;
    const bits = new Uint8Array(this.rules.length);
    for (const r of this.rules) bits[r.index] = matchesSelector(r.selector, labels) ? 1 : 0;
    this.selectorCache.set(node.id, { labels, bits });
    return bits;
  }
}
