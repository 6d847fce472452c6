import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { FleetError, type NodeView } from '@gpufleet/protocol';
import { errorText, silentLogger, type Logger } from '@gpufleet/agent';
import type { RunningServer, ServerConfig } from '@gpufleet/server';
import { FaultInjector } from '../faults/fault-injector.js';
import { startSimFleet, type SimFleet } from '../fleet.js';
import { observe } from './conditions.js';
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
    events: [],
    assertions: [],
    dataDir: o.keepData ? dataDir : null,
  };
  let server: RunningServer | null = null;
  let fleet: SimFleet | null = null;
  let injector: FaultInjector | null = null;
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  try {
    const { resolveServerConfig, startServer } = await import('@gpufleet/server');
    const config = serverConfig(scenario, dataDir, resolveServerConfig);
    server = await startServer(config, { logger: false });
    if (!server.adminToken) throw new FleetError('internal', 'the fresh server made no admin token');
    const api = new ScenarioApi(server.url, server.adminToken);
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
      startSpreadMs: Math.min(200, config.heartbeatIntervalMs),
      agentOptions: { metricsIntervalMs: config.metricsIntervalMs, backoff: { baseMs: scenario.agent.backoffBaseMs, capMs: scenario.agent.backoffCapMs } },
    });
    await fleet.started;
    await waitForFleet(api, scenario, o.setupTimeoutMs ?? 20_000, pollMs);
    injector = new FaultInjector({ fleet, seed: scenario.fleet.seed, logger: o.logger ?? silentLogger });
    result.setupMs = Date.now() - began;
    log(
      `fleet up: ${scenario.hostnames.length} host${scenario.hostnames.length === 1 ? '' : 's'} READY after ${(result.setupMs / 1000).toFixed(1)} s; server ${server.url}`,
    );

    const t0 = Date.now();
    const now = () => Date.now() - t0;
    const eventsDone = playTimeline(scenario.events, injector, t0, timers, result.events, log);
    const checks = scenario.assertions.map((a, i) =>
      checkAssertion(a, i, api, t0, pollMs, () => stopped).then((r) => {
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

/** Schedules every event (and its repeats) at its time from t0; resolves once all have run. */
function playTimeline(
  events: PlannedEvent[],
  injector: FaultInjector,
  t0: number,
  timers: NodeJS.Timeout[],
  out: EventResult[],
  log: (l: string) => void,
): Promise<void> {
  const runs: Promise<void>[] = [];
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
                entry.ranAtMs = Date.now() - t0;
                injector.inject(e).then(
                  (r) => {
                    entry.ok = true;
                    entry.detail = r.lines.length > 0 ? r.lines.join(' | ') : r.summary;
                    log(`+${(entry.ranAtMs! / 1000).toFixed(2)}s ${entry.text}: ${r.summary}`);
                    done();
                  },
                  (err: unknown) => {
                    entry.detail = errorText(err);
                    log(`+${(entry.ranAtMs! / 1000).toFixed(2)}s ${entry.text}: FAILED: ${entry.detail}`);
                    done();
                  },
                );
              },
              Math.max(0, t0 + atMs - Date.now()),
            ),
          );
        }),
      );
    }
  }
  return Promise.all(runs).then(() => undefined);
}

/** Polls one assertion's condition from its start until it settles. */
async function checkAssertion(
  a: PlannedAssertion,
  index: number,
  api: ScenarioApi,
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
    const obs = await observe(a.condition, api);
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
