import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  FleetError,
  parsePoolsFile,
  type ApplyPoolsResult,
  type PoolDetailView,
  type PoolEventView,
  type PoolOperationView,
  type PoolsConfig,
  type PoolView,
} from '@gpufleet/protocol';
import type { HubEvent } from '../events/event-hub.js';
import type { PoolConfigRecord, ProviderConfigRecord } from '../store/pool-records.js';
import { changesOf, checkPoolsConfig, poolKey, providerKey } from './pool-apply.js';
import { PoolEventLog } from './pool-event-log.js';
import { memberFacts, poolSize } from './pool-facts.js';
import type { PoolManagerOptions } from './pool-manager-options.js';
import { PoolReconciler, SAMPLES_KEPT_MS } from './pool-reconciler.js';
import { eventView, operationView, poolDetailView, poolView, type PoolViewInput } from './pool-view-builder.js';
import type { PoolsApi } from './pools-api.js';
import { assignDemand } from './pending-fit.js';
import { ProviderSet, type BuiltProvider } from './provider-set.js';

export type PoolManagerState = 'starting' | 'running' | 'draining' | 'stopped';

/** Finished operations shown with a pool's detail. */
const RECENT_OPS_SHOWN = 20;
const PRUNE_EVERY_MS = 3_600_000;
/** How soon passes are tried again while the server does not listen yet. */
const LISTEN_RETRY_MS = 200;

/**
 * The pool manager (issue 11): keeps each pool of the applied pools file at its desired size
 * through its provider, grows it for pending work and shrinks it by idle nodes (autoscaler),
 * and replaces unhealthy nodes provision-first. Every pool is reconciled every `reconcileMs`
 * and when one of its nodes changes; passes of one pool never overlap. Decisions and steps are
 * pool events. Lifecycle: load() reads the applied config and builds providers, start() begins
 * reconciling (operations resume from their stored stage), stop() lets passes finish and closes
 * the providers.
 */
export class PoolManager implements PoolsApi {
  private lifecycle: PoolManagerState = 'starting';
  private readonly pools = new Map<string, PoolConfigRecord>();
  private readonly providerConfigs = new Map<string, ProviderConfigRecord>();
  private readonly providers: ProviderSet;
  private readonly eventLog: PoolEventLog;
  private readonly reconciler: PoolReconciler;
  /** Per pool: the tail of its work (passes and changes run one at a time). */
  private readonly poolLocks = new Map<string, Promise<unknown>>();
  /** Per pool: a pass asked for and not started yet (asking again shares it). */
  private readonly waitingPass = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private lastPrune = 0;

  constructor(private readonly o: PoolManagerOptions) {
    this.providers = new ProviderSet(o);
    this.eventLog = new PoolEventLog(o);
    this.reconciler = new PoolReconciler(o, this.eventLog);
  }

  get state(): PoolManagerState {
    return this.lifecycle;
  }

  /** Reads the applied pools file and builds its providers; a provider that cannot be built is logged and its pools wait. */
  async load(): Promise<void> {
    for (const p of await this.o.store.listProviderConfigs()) {
      this.providerConfigs.set(p.name, p);
      try {
        await this.providers.put(this.providers.build(p.name, p.spec, p.baseDir));
      } catch (err) {
        this.o.log.warn({ provider: p.name, err: (err as Error).message }, 'a pool provider cannot be built; its pools wait');
      }
    }
    for (const p of await this.o.store.listPoolConfigs()) this.pools.set(p.name, p);
  }

  /** Applies the --pools file (a bad one stops start-up with its line and field), then reconciles every pool from its stored state. */
  async start(): Promise<void> {
    if (this.lifecycle !== 'starting') return;
    if (this.o.poolsFile) await this.applyFile(this.o.poolsFile, 'server:--pools');
    this.lifecycle = 'running';
    this.unsubscribe = this.o.hub.subscribe((e) => this.onHubEvent(e));
    this.timer = setInterval(() => this.reconcileAll(), this.o.reconcileMs);
    this.timer.unref?.();
    this.reconcileAll();
  }

  /** Stops reconciling, waits for passes in progress, closes the providers. */
  async stop(): Promise<void> {
    if (this.lifecycle === 'stopped') return;
    this.lifecycle = 'draining';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.idle();
    await this.providers.closeAll();
    this.lifecycle = 'stopped';
  }

  /** Reconciles every pool (each after its pass in progress); resolves when all are done. */
  reconcileAll(): Promise<void> {
    return Promise.all([...this.pools.keys()].map((name) => this.reconcile(name))).then(() => this.prune());
  }

  /** Asks for a pass of one pool: runs after whatever holds the pool now; a pass already waiting is shared. Resolves when it ran. */
  reconcile(name: string): Promise<void> {
    if (this.lifecycle === 'draining' || this.lifecycle === 'stopped') return Promise.resolve();
    const waiting = this.waitingPass.get(name);
    if (waiting) return waiting;
    const pass = this.withPool(name, () => {
      this.waitingPass.delete(name);
      return this.runPass(name);
    });
    this.waitingPass.set(name, pass);
    return pass;
  }

  /** Runs `work` for one pool when nothing else does (passes, scale, replace, apply): no stale state is written over a newer one. */
  private withPool<T>(name: string, work: () => Promise<T>): Promise<T> {
    const before = this.poolLocks.get(name) ?? Promise.resolve();
    const run = before.then(work, work);
    this.poolLocks.set(
      name,
      run.catch(() => undefined),
    );
    return run;
  }

  /** Resolves once no pass or pool change is running. */
  async idle(): Promise<void> {
    let locks: Array<Promise<unknown>> = [];
    // Work may queue more work (a pass kicked by an event): wait until the set is stable.
    while (locks.length !== this.poolLocks.size || locks.some((l, i) => l !== [...this.poolLocks.values()][i])) {
      locks = [...this.poolLocks.values()];
      await Promise.all(locks);
    }
  }

  private async runPass(name: string): Promise<void> {
    const cfg = this.pools.get(name);
    if (!cfg) return;
    // Another replica provisions and replaces: two would both create the hosts a pool lacks.
    if (!this.o.lease.holds()) return;
    if (this.o.listening && !this.o.listening()) {
      this.retrySoon();
      return;
    }
    try {
      await this.reconciler.pass(cfg, this.providers.get(cfg.spec.provider), this.pendingFor(name));
    } catch (err) {
      this.o.log.warn({ pool: name, err: (err as Error).message }, 'pool reconcile failed');
    }
  }

  /** One more round shortly (the server was not listening yet). */
  private retrySoon(): void {
    if (this.retryTimer !== null || this.lifecycle === 'draining' || this.lifecycle === 'stopped') return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.reconcileAll();
    }, LISTEN_RETRY_MS);
    this.retryTimer.unref?.();
  }

  /** Pending slots this pool would take (each group goes to one pool only). */
  private pendingFor(name: string) {
    const slots = this.o.demand?.pendingSlots() ?? [];
    if (slots.length === 0) return [];
    const takers = [...this.pools.values()].map((p) => ({
      pool: p.name,
      template: this.reconciler.templates.get(p.name) ?? null,
      canGrow: p.spec.autoscaling?.pendingAllocations === true && p.spec.maxNodes > 0,
    }));
    return assignDemand(slots, takers).get(name) ?? [];
  }

  private onHubEvent(e: HubEvent): void {
    if (e.type !== 'node' && e.type !== 'health') return;
    if (e.type === 'health' && e.gpuKey !== null) return;
    const pool = this.o.registry.labelsOf(e.nodeId).pool;
    if (pool !== undefined && this.pools.has(pool)) void this.reconcile(pool);
  }

  private async prune(): Promise<void> {
    const now = this.o.clock.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    await this.o.store
      .prunePoolSizeSamples(now - SAMPLES_KEPT_MS)
      .catch((err: Error) => this.o.log.warn({ err: err.message }, 'pruning pool size samples failed'));
  }

  // ---- PoolsApi ----

  async list(): Promise<PoolView[]> {
    const out: PoolView[] = [];
    for (const name of [...this.pools.keys()].sort()) out.push(poolView(await this.viewInput(name)));
    return out;
  }

  async get(name: string): Promise<PoolDetailView> {
    const input = await this.viewInput(name);
    const finished = await this.o.store.listPoolOperations({ pool: name, active: false });
    const recentOps = finished.slice(-RECENT_OPS_SHOWN).reverse();
    const samples = await this.o.store.listPoolSizeSamples(name, this.o.clock.now() - SAMPLES_KEPT_MS);
    return poolDetailView({ ...input, recentOps, samples, hostnameOf: this.hostnameOf });
  }

  async events(pool: string | null, query: { after?: number; limit?: number }): Promise<PoolEventView[]> {
    if (pool !== null && !this.pools.has(pool) && (await this.o.store.getPoolState(pool)) === undefined) throw this.unknownPool(pool);
    const limit = Number.isFinite(query.limit) ? Math.min(Math.max(1, Math.floor(query.limit!)), 1000) : 100;
    const q = { ...(pool === null ? {} : { pool }), limit };
    const records =
      query.after === undefined ? await this.o.store.listPoolEvents({ ...q, newest: true }) : await this.o.store.listPoolEvents({ ...q, after: query.after });
    return records.map(eventView);
  }

  async apply(input: PoolsConfig, baseDir: string, actor: string): Promise<ApplyPoolsResult> {
    const config = checkPoolsConfig(input, this.o.factories);
    const now = this.o.clock.now();
    const providerRecords = new Map(Object.entries(config.providers).map(([name, spec]) => [name, { name, spec, baseDir, appliedAt: now, appliedBy: actor }]));
    const poolRecords = new Map(Object.entries(config.pools).map(([name, spec]) => [name, { name, spec, appliedAt: now, appliedBy: actor }]));
    const providerChanges = changesOf(this.providerConfigs, providerRecords, providerKey);
    const poolChanges = changesOf(this.pools, poolRecords, poolKey);
    // Build every new or changed provider before anything is stored: a refusal changes nothing.
    const built: BuiltProvider[] = [];
    try {
      for (const c of providerChanges) {
        if (c.change !== 'created' && c.change !== 'updated') continue;
        const r = providerRecords.get(c.name)!;
        built.push(this.providers.build(r.name, r.spec, r.baseDir));
      }
    } catch (err) {
      await Promise.all(built.map((b) => b.provider.close().catch(() => undefined)));
      throw err;
    }
    // Unchanged entries keep when they were applied and by whom.
    const keepOld = <T extends { name: string }>(records: Map<string, T>, old: Map<string, T>, changes: Array<{ name: string; change: string }>) =>
      [...records.values()].map((r) => (changes.find((c) => c.name === r.name)?.change === 'unchanged' ? old.get(r.name)! : r));
    const providersStored = keepOld(providerRecords, this.providerConfigs, providerChanges);
    const poolsStored = keepOld(poolRecords, this.pools, poolChanges);
    await this.o.store.replacePoolsConfig(providersStored, poolsStored);
    for (const b of built) await this.providers.put(b);
    await this.providers.retain(new Set(providerRecords.keys()));
    this.providerConfigs.clear();
    for (const r of providersStored) this.providerConfigs.set(r.name, r);
    this.pools.clear();
    for (const r of poolsStored) this.pools.set(r.name, r);

    for (const c of poolChanges) {
      if (c.change === 'unchanged') continue;
      if (c.change === 'removed') {
        const left = (await this.o.store.listPoolMembers({ pool: c.name })).length;
        await this.eventLog.emit(
          c.name,
          'applied',
          `removed from the pools file by ${actor}; its ${left} node${left === 1 ? '' : 's'} keep running, no longer managed`,
        );
        continue;
      }
      const spec = poolRecords.get(c.name)!.spec;
      await this.withPool(c.name, () => this.settleDesired(c.name));
      await this.eventLog.emit(
        c.name,
        'applied',
        `${c.change} by ${actor}: ${spec.provider} ${spec.instanceType}, ${spec.minNodes}..${spec.maxNodes} nodes${spec.zones.length > 0 ? ` in ${spec.zones.join(', ')}` : ''}`,
      );
    }
    const result: ApplyPoolsResult = { pools: poolChanges, providers: providerChanges };
    await this.o.audit.record({ actor, action: 'pools.apply', target: 'pools', result: 'ok', details: result });
    void this.reconcileAll();
    return result;
  }

  /** Reads, parses and applies a pools file (`gpufleet server --pools FILE`); relative paths in it resolve against its folder. */
  async applyFile(path: string, actor: string): Promise<ApplyPoolsResult> {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new FleetError('invalid_argument', `cannot read pools file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return this.apply(parsePoolsFile(text, { file: path }), dirname(path), actor);
  }

  async scale(name: string, to: number, reason: string, actor: string): Promise<PoolView> {
    const cfg = this.pools.get(name);
    if (!cfg) throw this.unknownPool(name);
    const { minNodes, maxNodes } = cfg.spec;
    if (!Number.isInteger(to) || to < minNodes || to > maxNodes) {
      throw new FleetError(
        'invalid_argument',
        `to: ${to} is outside pool ${name}'s range ${minNodes}..${maxNodes} (change min_nodes/max_nodes in the pools file to go beyond)`,
        {
          details: { field: 'to', min: minNodes, max: maxNodes },
        },
      );
    }
    const text = reason.trim();
    if (text === '') throw new FleetError('invalid_argument', 'reason: say why the pool is scaled (--reason "...")', { details: { field: 'reason' } });
    const from = await this.withPool(name, async () => {
      const state = await this.o.store.getPoolState(name);
      await this.o.store.putPoolState({
        pool: name,
        desired: to,
        desiredSource: 'manual',
        manualReason: text,
        lastScaleUpAt: state?.lastScaleUpAt ?? null,
        lastScaleDownAt: state?.lastScaleDownAt ?? null,
        updatedAt: this.o.clock.now(),
      });
      return state?.desired ?? null;
    });
    await this.eventLog.emit(name, 'manual-scale', `scaled to ${to} by ${actor} (was ${from ?? minNodes}): ${text}`);
    await this.o.audit.record({ actor, action: 'pools.scale', target: name, result: 'ok', details: { to, from, reason: text } });
    void this.reconcile(name);
    return poolView(await this.viewInput(name));
  }

  async replace(name: string, nodeRef: string, reason: string, actor: string): Promise<PoolOperationView> {
    const cfg = this.pools.get(name);
    if (!cfg) throw this.unknownPool(name);
    const node = this.o.registry.resolve(nodeRef);
    const members = await this.o.store.listPoolMembers({ pool: name });
    if (!members.some((m) => m.nodeId === node.id && m.state === 'active')) {
      throw new FleetError('failed_precondition', `node ${node.hostname} is not an active member of pool ${name} (gpufleet pools get ${name} lists them)`, {
        details: { node: node.id },
      });
    }
    if (cfg.spec.health.maxParallelReplacements === 0) {
      throw new FleetError('failed_precondition', `pool ${name} has max_parallel_replacements 0: replacements are off`);
    }
    const text = reason.trim() || 'marked for replacement';
    // Checked and recorded while no pass runs: a pass cannot start another operation on the node in between.
    const op = await this.withPool(name, async () => {
      const ops = await this.o.store.listPoolOperations({ pool: name, active: true });
      const busy = ops.find((o) => o.oldNodeId === node.id);
      if (busy) {
        throw new FleetError(
          'failed_precondition',
          `node ${node.hostname} is already being ${busy.kind === 'replace' ? 'replaced' : 'removed'} (${busy.id}, ${busy.stage})`,
        );
      }
      return this.reconciler.startReplace(name, node.id, `${text} (by ${actor})`, this.o.clock.now());
    });
    await this.o.audit.record({ actor, action: 'pools.replace', target: node.id, result: 'ok', details: { pool: name, operation: op.id, reason: text } });
    void this.reconcile(name);
    return operationView(op, this.hostnameOf);
  }

  // ---- helpers ----

  private readonly hostnameOf = (nodeId: string): string | null => this.o.registry.get(nodeId)?.hostname ?? null;

  /** A created or changed pool: desired at least min and at least what runs (nothing is removed by an apply), at most max. */
  private async settleDesired(name: string): Promise<void> {
    const spec = this.pools.get(name)!.spec;
    const now = this.o.clock.now();
    const state = await this.o.store.getPoolState(name);
    const members = (await this.o.store.listPoolMembers({ pool: name })).map((r) => memberFacts(r, this.o));
    const ops = await this.o.store.listPoolOperations({ pool: name, active: true });
    const current = poolSize(members, ops).size;
    const desired = Math.min(spec.maxNodes, Math.max(spec.minNodes, state ? state.desired : current));
    if (state && state.desired === desired) return;
    await this.o.store.putPoolState({
      pool: name,
      desired,
      desiredSource: state && desired === state.desired ? state.desiredSource : 'min',
      manualReason: null,
      lastScaleUpAt: state?.lastScaleUpAt ?? null,
      lastScaleDownAt: state?.lastScaleDownAt ?? null,
      updatedAt: now,
    });
  }

  private async viewInput(name: string): Promise<PoolViewInput> {
    const config = this.pools.get(name);
    if (!config) throw this.unknownPool(name);
    const members = (await this.o.store.listPoolMembers({ pool: name })).map((r) => memberFacts(r, this.o));
    return {
      config,
      providerType: this.providerConfigs.get(config.spec.provider)?.spec.type ?? 'unknown',
      state: await this.o.store.getPoolState(name),
      members,
      activeOps: await this.o.store.listPoolOperations({ pool: name, active: true }),
    };
  }

  private unknownPool(name: string): FleetError {
    const known = [...this.pools.keys()].sort();
    return new FleetError(
      'not_found',
      `no pool '${name}' (${known.length > 0 ? `pools: ${known.join(', ')}` : 'no pools file applied; gpufleet pools apply FILE'})`,
    );
  }
}
