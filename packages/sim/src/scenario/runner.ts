import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { FleetError, type NodeView } from '@gpufleet/protocol';
import { errorText, silentLogger, type Logger } from '@gpufleet/agent';
import type { RunningServer, ServerConfig } from '@gpufleet/server';
import { FaultInjector } from '../faults/fault-injector.js';
import { startSimFleet, type SimFleet } from '../fleet.js';
import { makeSimProviderFactory } from '../provider/sim-provider.js';
import { SimProviderHosts } from '../provider/sim-provider-hosts.js';
import { observe } from './conditions.js';
import type { PoolFacts } from './pool-conditions.js';
import { applyScenarioPools, PoolFaultTargets, waitForPools } from './scenario-pools.js';
import { makeScenarioOperator, runScenarioAction, type ScenarioOperator } from './scenario-actions.js';
import { ScenarioApi } from './scenario-api.js';
import type { PlannedAssertion, PlannedEvent, Scenario } from './scenario-file.js';

export interface RunScenarioOptions {
  /** Progress lines as the run goes (setup, each event, each settled assertion). */
  log?: (line: string) => void;
  /** Agent and fleet log (default silent). */
  logger?: Logger;
  /** Keep the temporary data dir (server database, kernel logs) and print where it is. */
  keepData?: boolean;
  /** Poll period of the checks. Default 100 ms. */
  pollMs?: number;
  /** How long the fleet may take to come up READY. Default 20 s. */
  setupTimeoutMs?: number;
  /** How long the pools may take to reach min_nodes READY. Default 90 s. */
  poolSetupTimeoutMs?: number;
}

export interface EventResult {
  line: number | null;
  text: string;
  /** Planned scenario time (ms) and when it actually ran. */
  atMs: number;
  ranAtMs: number | null;
  ok: boolean;
  detail: string;
}

export interface AssertionResult {
  index: number;
  line: number | null;
  text: string;
  kind: 'expect' | 'never' | 'always';
  passed: boolean;
  /** What the last check saw (for a failed never/always: what broke it). */
  seen: string;
  /** Scenario time the check started and settled (ms). */
  startMs: number;
  settledAtMs: number;
}

export interface ScenarioResult {
  name: string;
  source: string;
  passed: boolean;
  /** Why the run could not complete (setup failed, timeout); null when it ran to the end. */
  error: string | null;
  setupMs: number;
  runMs: number;
  hosts: string[];
  /** Hosts the pools had when the run started (their sim provider's), when the scenario applies pools. */
  poolHosts: string[];
  events: EventResult[];
  assertions: AssertionResult[];
  /** The data dir, when kept. */
  dataDir: string | null;
}

/** Server settings a scenario gets unless it says otherwise: fast enough for seconds-long runs. */
export const SCENARIO_SERVER_DEFAULTS = { heartbeatInterval: '200ms', offlineAfter: 5, metricsInterval: '250ms' } as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Runs one scenario: a fresh in-process server (temporary data dir, free port), a join token,
 * the simulated fleet (each host with a fake kernel log and its own link proxy), then the
 * timeline of faults, with every assertion checked through the public REST API every 100 ms.
 * Everything it started is stopped and removed before it returns. Never throws for a failing
 * scenario: `passed` says, and `error` says why a run could not complete.
 */
export async function runScenario(scenario: Scenario, o: RunScenarioOptions = {}): Promise<ScenarioResult> {
  const log = o.log ?? (() => undefined);
  const pollMs = o.pollMs ?? 100;
  const began = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), `gpufleet-scenario-${scenario.name.slice(0, 40)}-`));
  const result: ScenarioResult = {
    name: scenario.name,
    source: scenario.source,
    passed: false,
    error: null,
    setupMs: 0,
    runMs: 0,
    hosts: scenario.hostnames,
    poolHosts: [],
    events: [],
    assertions: [],
    dataDir: o.keepData ? dataDir : null,
  };
  let server: RunningServer | null = null;
  let fleet: SimFleet | null = null;
  let injector: FaultInjector | null = null;
  // Hosts the sim provider starts for pools: reachable for faults, sharing the fleet's fake workloads.
  const poolHosts = new SimProviderHosts({ seed: scenario.fleet.seed });
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  try {
    const { resolveServerConfig, startServer } = await import('@gpufleet/server');
    const config = serverConfig(scenario, dataDir, resolveServerConfig);
    const sim = makeSimProviderFactory({
      hosts: poolHosts,
      agentVersion: 'scenario',
      logger: o.logger ?? silentLogger,
      kernelLogPollMs: scenario.agent.kernelLogPollMs,
      agentOptions: { metricsIntervalMs: config.metricsIntervalMs, backoff: { baseMs: scenario.agent.backoffBaseMs, capMs: scenario.agent.backoffCapMs } },
    });
    server = await startServer(config, { logger: false, providers: { sim } });
    if (!server.adminToken) throw new FleetError('internal', 'the fresh server made no admin token');
    const api = new ScenarioApi(server.url, server.adminToken);
    // The root first: join tokens carry the roots, and hosts trust the roots their token carried.
    const operator = scenario.submitsJobs ? await makeScenarioOperator(api) : null;
    const { token } = await server.createJoinToken({ reusable: true, labels: { scenario: labelSafe(scenario.name) } });
    fleet = await startSimFleet({
      token,
      count: scenario.fleet.nodes,
      seed: scenario.fleet.seed,
      mix: scenario.fleet.mix,
      gpuCount: scenario.fleet.gpus,
      agentVersion: 'scenario',
      logger: o.logger ?? silentLogger,
      kernelLog: { dir: join(dataDir, 'kernel'), pollMs: scenario.agent.kernelLogPollMs },
      linkProxy: true,
      workloads: poolHosts.workloads,
      startSpreadMs: Math.min(200, config.heartbeatIntervalMs),
      agentOptions: { metricsIntervalMs: config.metricsIntervalMs, backoff: { baseMs: scenario.agent.backoffBaseMs, capMs: scenario.agent.backoffCapMs } },
    });
    await fleet.started;
    await waitForFleet(api, scenario, o.setupTimeoutMs ?? 20_000, pollMs);
    if (scenario.pools) {
      log(await applyScenarioPools(api, scenario.pools));
      await waitForPools(api, scenario.pools, o.poolSetupTimeoutMs ?? 90_000, pollMs);
    }
    injector = new FaultInjector({ fleet: poolHosts.withFleet(fleet), seed: scenario.fleet.seed, logger: o.logger ?? silentLogger });
    const poolTargets = new PoolFaultTargets(poolHosts, api, scenario.fleet.seed);
    result.poolHosts = poolHosts.list().map((h) => h.hostname);
    result.setupMs = Date.now() - began;
    const poolLine = scenario.pools ? `, pools at min_nodes with ${poolHosts.size} host${poolHosts.size === 1 ? '' : 's'}` : '';
    log(
      `fleet up: ${scenario.hostnames.length} host${scenario.hostnames.length === 1 ? '' : 's'} READY${poolLine} after ${(result.setupMs / 1000).toFixed(1)} s; server ${server.url}`,
    );

    const t0 = Date.now();
    const now = () => Date.now() - t0;
    const timeline = { injector, api, operator, poolTargets, t0, pollMs, stopped: () => stopped };
    const eventsDone = playTimeline(scenario.events, timeline, timers, result.events, log);
    // With events that wait for conditions, assertions without `at` start once every event has run.
    const eventsRan = eventsDone.then(() => now());
    const checks = scenario.assertions.map((a, i) =>
      (scenario.gated && a.at === null ? eventsRan : Promise.resolve(a.startMs))
        .then((ranAt) => checkAssertion({ ...a, startMs: Math.max(a.startMs, ranAt) }, i, api, poolTargets, t0, pollMs, () => stopped))
        .then((r) => {
          result.assertions[i] = r;
          log(`${r.passed ? 'PASS' : 'FAIL'} ${r.text}: ${r.seen}`);
        }),
    );
    const remaining = scenario.timeoutMs - (Date.now() - began);
    const finished = await Promise.race([Promise.all([eventsDone, ...checks]).then(() => true), sleep(remaining).then(() => false)]);
    if (!finished) result.error = `the scenario did not finish within its timeout of ${scenario.timeoutMs / 1000} s`;
    result.runMs = now();
  } catch (err) {
    result.error = errorText(err);
  } finally {
    stopped = true;
    for (const t of timers) clearTimeout(t);
    await injector?.dispose().catch(() => undefined);
    if (injector)
      for (const e of injector.errors) result.events.push({ line: null, text: 'scheduled follow-up', atMs: 0, ranAtMs: null, ok: false, detail: e });
    await fleet?.stop().catch(() => undefined);
    // The server's stop closes its providers, which switch the pools' hosts off.
    await server?.stop().catch(() => undefined);
    if (!o.keepData) rmSync(dataDir, { recursive: true, force: true });
  }
  // Assertions that never settled (setup failed, timeout) are reported as failed, not dropped.
  scenario.assertions.forEach((a, i) => {
    result.assertions[i] ??= {
      index: i,
      line: a.line,
      text: a.text,
      kind: a.kind,
      passed: false,
      seen: result.error ? 'not checked: the run stopped early' : 'not settled',
      startMs: a.startMs,
      settledAtMs: -1,
    };
  });
  result.passed = result.error === null && result.events.every((e) => e.ok) && result.assertions.every((a) => a.passed);
  return result;
}

/** The server config: scenario defaults < the scenario's `server` keys; inline policies written to the data dir. */
function serverConfig(scenario: Scenario, dataDir: string, resolveServerConfig: typeof import('@gpufleet/server').resolveServerConfig): ServerConfig {
  const flags: Record<string, unknown> = { ...SCENARIO_SERVER_DEFAULTS };
  for (const [key, value] of Object.entries(scenario.server)) {
    if ((key === 'healthPolicy' || key === 'alertRules') && value !== null && typeof value === 'object') {
      const file = join(dataDir, `${key === 'healthPolicy' ? 'health-policy' : 'alert-rules'}.yaml`);
      writeFileSync(file, stringify(value));
      flags[key] = file;
    } else if ((key === 'healthPolicy' || key === 'alertRules') && typeof value === 'string') {
      flags[key] = isAbsolute(value) ? value : resolve(scenario.dir, value);
    } else {
      // The config reads durations and counts from text, as from a YAML file or flags.
      flags[key] = typeof value === 'number' || typeof value === 'string' ? value : value === null ? null : JSON.stringify(value);
    }
  }
  flags.listen = '127.0.0.1:0';
  flags.dataDir = dataDir;
  flags.logLevel = 'silent';
  try {
    return resolveServerConfig({ flags });
  } catch (err) {
    // Point at the scenario's line for the key the server's config check refused.
    const details = FleetError.is(err) ? (err.details as { key?: unknown } | undefined) : undefined;
    const kebab = details?.key;
    const key = typeof kebab === 'string' ? kebab.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) : null;
    const line = key ? scenario.serverLines[key] : null;
    throw new FleetError('invalid_argument', `${scenario.source}${line ? `:${line}` : ''}: server: ${errorText(err)}`);
  }
}

/** Waits until every host is READY with its full inventory (what the assertions compare against). */
async function waitForFleet(api: ScenarioApi, scenario: Scenario, timeoutMs: number, pollMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const waiting = new Set(scenario.hostnames);
  let last = '';
  while (waiting.size > 0) {
    for (const host of [...waiting]) {
      const r = await api.get<NodeView>(`/api/v1/nodes/${encodeURIComponent(host)}`);
      if (r.status === 200 && r.body.status === 'READY' && r.body.gpus.length === scenario.fleet.gpus && r.body.gpus.every((g) => g.sample !== null))
        waiting.delete(host);
      else last = r.status === 200 ? `${host} is ${r.body.status} with ${r.body.gpus.length} GPUs` : `${host}: HTTP ${r.status}`;
    }
    if (waiting.size === 0) return;
    if (Date.now() > deadline)
      throw new FleetError('unavailable', `the fleet was not READY within ${timeoutMs / 1000} s (${waiting.size} hosts waiting; ${last})`);
    await sleep(pollMs);
  }
}

/** What the timeline acts through. */
interface Timeline {
  injector: FaultInjector;
  api: ScenarioApi;
  operator: ScenarioOperator | null;
  poolTargets: PoolFaultTargets;
  t0: number;
  pollMs: number;
  stopped: () => boolean;
}

/**
 * Schedules every event (and its repeats) at its time from t0; one with `when` then waits for
 * its condition. Resolves once all have run (or failed).
 */
function playTimeline(events: PlannedEvent[], t: Timeline, timers: NodeJS.Timeout[], out: EventResult[], log: (l: string) => void): Promise<void> {
  const runs: Promise<void>[] = [];
  const since = () => `+${((Date.now() - t.t0) / 1000).toFixed(2)}s`;
  for (const e of events) {
    for (let k = 0; k < e.repeat; k++) {
      const atMs = e.at + k * e.every;
      const entry: EventResult = { line: e.line, text: e.repeat > 1 ? `${e.text} (#${k + 1})` : e.text, atMs, ranAtMs: null, ok: false, detail: 'not run' };
      out.push(entry);
      runs.push(
        new Promise<void>((done) => {
          timers.push(
            setTimeout(
              () => {
                runEvent(e, t)
                  .then(
                    (detail) => {
                      entry.ok = true;
                      entry.detail = detail.text;
                      log(`${since()} ${entry.text}: ${detail.summary}`);
                    },
                    (err: unknown) => {
                      entry.detail = errorText(err);
                      log(`${since()} ${entry.text}: FAILED: ${entry.detail}`);
                    },
                  )
                  .finally(() => {
                    entry.ranAtMs ??= Date.now() - t.t0;
                    done();
                  });
                // Without a condition to wait for, it ran now.
                if (!e.when) entry.ranAtMs = Date.now() - t.t0;
              },
              Math.max(0, t.t0 + atMs - Date.now()),
            ),
          );
        }),
      );
    }
  }
  return Promise.all(runs).then(() => undefined);
}

/** Waits for the event's condition (if any), then injects its fault or runs its action. */
async function runEvent(e: PlannedEvent, t: Timeline): Promise<{ text: string; summary: string }> {
  if (e.when) {
    const end = Date.now() + e.withinMs;
    for (;;) {
      const obs = await observe(e.when, t.api, t.poolTargets);
      if (obs.ok) break;
      if (t.stopped()) throw new FleetError('unavailable', `the run stopped while it waited: ${obs.seen}`);
      if (Date.now() >= end) throw new FleetError('failed_precondition', `its condition did not hold within ${e.withinMs / 1000} s: ${obs.seen}`);
      await sleep(Math.min(t.pollMs, end - Date.now()));
    }
  }
  if ('action' in e) {
    const text = await runScenarioAction(e, e.submit, t.api, t.operator);
    return { text, summary: text };
  }
  if (e.pool) {
    const picked = await t.poolTargets.pick(e.pool.name, e.pool.randomGpu ? null : 'gpu' in e && e.gpu !== undefined ? e.gpu : null);
    const spec = { ...e, host: picked.hostname, ...('gpu' in e ? { gpu: picked.gpu } : {}) };
    const r = await t.injector.inject(spec);
    return { text: r.lines.length > 0 ? r.lines.join(' | ') : r.summary, summary: `${r.summary} (pool ${e.pool.name})` };
  }
  const r = await t.injector.inject(e);
  t.poolTargets.noteHit(r.hostname);
  return { text: r.lines.length > 0 ? r.lines.join(' | ') : r.summary, summary: r.summary };
}

/** Polls one assertion's condition from its start until it settles. */
async function checkAssertion(
  a: PlannedAssertion,
  index: number,
  api: ScenarioApi,
  pools: PoolFacts,
  t0: number,
  pollMs: number,
  stopped: () => boolean,
): Promise<AssertionResult> {
  const base = { index, line: a.line, text: a.text, kind: a.kind, startMs: a.startMs };
  await sleep(t0 + a.startMs - Date.now());
  const end = t0 + a.startMs + a.windowMs;
  let seen = 'not checked';
  for (;;) {
    if (stopped()) return { ...base, passed: false, seen: `stopped early; last seen: ${seen}`, settledAtMs: Date.now() - t0 };
    const obs = await observe(a.condition, api, pools);
    seen = obs.seen;
    const at = Date.now() - t0;
    if (a.kind === 'expect' && obs.ok) return { ...base, passed: true, seen, settledAtMs: at };
    if (a.kind === 'never' && obs.ok) return { ...base, passed: false, seen: `held at ${(at / 1000).toFixed(2)} s: ${seen}`, settledAtMs: at };
    if (a.kind === 'always' && !obs.ok) return { ...base, passed: false, seen: `broke at ${(at / 1000).toFixed(2)} s: ${seen}`, settledAtMs: at };
    if (Date.now() >= end) {
      // expect ran out of time; never/always held for the whole window.
      return { ...base, passed: a.kind !== 'expect', seen: a.kind === 'expect' ? `still not after ${a.windowMs / 1000} s: ${seen}` : seen, settledAtMs: at };
    }
    await sleep(Math.min(pollMs, end - Date.now()));
  }
}

/** A scenario's name as a label value (hosts vouch for token labels, so the token refuses anything else). */
function labelSafe(name: string): string {
  const value = name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')
    .slice(0, 63)
    .replace(/[^A-Za-z0-9]+$/, '');
  return value === '' ? 'scenario' : value;
}
