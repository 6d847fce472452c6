import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { FleetError } from '@gpufleet/protocol';
import type { FaultSpec } from '../faults/fault-spec.js';
import { assignModels, simHostnames } from '../fleet.js';
import { GPU_MODELS, type SimGpuModel } from '../gpu-models.js';
import { describeCondition } from './conditions.js';
import { loadScenarioJob, type ScenarioJob } from './scenario-jobs.js';
import { loadScenarioPools, type ScenarioPoolsFile } from './scenario-pools-file.js';
import { RUNNER_OWNED_SERVER_KEYS, ScenarioDoc, type Assertion, type Condition, type ScenarioEvent } from './scenario-schema.js';

/** A scenario event with where it was written, and for a submit the job it submits (read and checked). */
export type PlannedEvent = ScenarioEvent & { line: number | null; text: string; submit: ScenarioJob | null };
/** An assertion with where it was written and when its check starts (ms of scenario time). */
export type PlannedAssertion = Assertion & { line: number | null; text: string; startMs: number };

/** A checked scenario, ready for the runner. */
export interface Scenario {
  name: string;
  description: string | null;
  /** The file it came from, or `<inline>`. */
  source: string;
  /** Folder relative paths (policy files) are read from. */
  dir: string;
  fleet: { nodes: number; mix: Partial<Record<SimGpuModel, number>>; seed: string | number; gpus: number };
  /** The fleet's hostnames and models, in order (known before anything starts). */
  hostnames: string[];
  models: SimGpuModel[];
  /** Server config keys in camelCase; healthPolicy / alertRules may still be inline documents. */
  server: Record<string, unknown>;
  /** Line of each server key, for errors the server's config check raises later. */
  serverLines: Record<string, number | null>;
  agent: { backoffBaseMs: number; backoffCapMs: number; kernelLogPollMs: number };
  timeoutMs: number;
  events: PlannedEvent[];
  assertions: PlannedAssertion[];
  /** Scenario time of the last event (repeats included). */
  lastEventMs: number;
  /** Whether some event waits for a condition (`when`): assertions without `at` then start once every event has run. */
  gated: boolean;
  /** Whether it submits jobs (the runner then makes an operator key the fleet root). */
  submitsJobs: boolean;
  /** The pools file applied once the fleet is up; null: none. */
  pools: ScenarioPoolsFile | null;
}

const DEFAULT_MIX: Partial<Record<SimGpuModel, number>> = { H100: 1 };
// Kinds that write NVIDIA driver lines into the host's kernel log.
const KERNEL_KINDS = new Set<FaultSpec['inject']>(['xid', 'sxid', 'fall-off-bus']);
const NVSWITCH_MODELS = new Set<SimGpuModel>(['H100', 'A100']);

/** Reads and checks a scenario file. Errors name the file, line, column and field. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FleetError('invalid_argument', `cannot read scenario ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseScenario(text, resolve(path));
}

/**
 * Parses and checks scenario YAML. `source` names it in errors and anchors relative paths.
 * Throws FleetError('invalid_argument') listing every problem as `source:line:col: field: why`.
 */
export function parseScenario(text: string, source = '<inline>'): Scenario {
  if (typeof text !== 'string') throw new FleetError('invalid_argument', `${source}: a scenario is YAML text`);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const where = locator(doc, lines, source);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw new FleetError('invalid_argument', `${source}:${pos.line}:${pos.col}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new FleetError('invalid_argument', `${source}: a scenario is a YAML mapping with fleet, events and assert`);
  const parsed = ScenarioDoc.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 10).map((i) => {
      // An unknown key is best pointed at on its own line, not its parent's.
      const path = i.code === 'unrecognized_keys' && i.keys.length > 0 ? [...i.path, i.keys[0]!] : i.path;
      return `${where(path)}: ${fieldName(path)}: ${i.message}`;
    });
    const more = parsed.error.issues.length > 10 ? `\n(and ${parsed.error.issues.length - 10} more)` : '';
    throw new FleetError('invalid_argument', problems.join('\n') + more);
  }
  const d = parsed.data;
  const problems: string[] = [];
  const problem = (path: (string | number)[], why: string) => problems.push(`${where(path)}: ${fieldName(path)}: ${why}`);

  const mix = d.fleet.mix ?? DEFAULT_MIX;
  let models: SimGpuModel[] = [];
  try {
    models = assignModels(d.fleet.nodes, mix);
  } catch (err) {
    problem(['fleet', 'mix'], (err as Error).message);
  }
  const hostnames = simHostnames(models);
  const modelOf = new Map(hostnames.map((h, i) => [h, models[i]!]));
  const gpus = d.fleet.gpus ?? 8;
  const checkHost = (path: (string | number)[], host: string): SimGpuModel | null => {
    const model = modelOf.get(host);
    if (!model && models.length > 0)
      problem(path, `no host '${host}' in this fleet (hosts: ${hostnames.slice(0, 6).join(', ')}${hostnames.length > 6 ? ', ...' : ''})`);
    return model ?? null;
  };
  const checkGpu = (path: (string | number)[], gpu: number | undefined) => {
    if (gpu !== undefined && gpu >= gpus) problem(path, `the hosts have GPUs 0 to ${gpus - 1}, not ${gpu}`);
  };

  const server: Record<string, unknown> = {};
  const serverLines: Record<string, number | null> = {};
  for (const [rawKey, value] of Object.entries(d.server ?? {})) {
    const key = rawKey.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if ((RUNNER_OWNED_SERVER_KEYS as readonly string[]).includes(key)) {
      problem(['server', rawKey], 'the runner sets this itself (a fresh server on a free port with a temporary data dir)');
      continue;
    }
    if (
      (key === 'healthPolicy' || key === 'alertRules') &&
      !(typeof value === 'string' || (value !== null && typeof value === 'object' && !Array.isArray(value)))
    ) {
      problem(['server', rawKey], 'expected a file path (relative to the scenario) or an inline YAML mapping');
      continue;
    }
    server[key] = value;
    serverLines[key] = lineOf(doc, lines, ['server', rawKey]);
  }

  const dir = source === '<inline>' ? process.cwd() : dirname(source);
  let pools: ScenarioPoolsFile | null = null;
  if (d.pools !== undefined) {
    try {
      pools = loadScenarioPools(d.pools, dir);
    } catch (err) {
      problem(['pools'], (err as Error).message);
    }
  } else if (d.fleet.nodes === 0) problem(['fleet', 'nodes'], 'no hosts and no pools file: give nodes or pools');
  const checkPool = (path: (string | number)[], pool: string) => {
    if (d.pools === undefined) problem(path, `pool ${pool}: the scenario applies no pools file (give pools)`);
    else if (pools && !pools.minNodes.has(pool))
      problem(path, `no pool '${pool}' in the pools file (pools: ${[...pools.minNodes.keys()].join(', ') || 'none'})`);
  };
  const events: PlannedEvent[] = d.events.map((e, i) => {
    const planned = { ...e, line: lineOf(doc, lines, ['events', i]), text: describeEvent(e), submit: null as ScenarioJob | null };
    if (e.when) checkConditionHosts(e.when, ['events', i, 'when'], checkHost, checkGpu, checkPool);
    if (e.pool) {
      // Which member, and its GPU model, is known only when the fault runs.
      checkPool(['events', i, 'pool'], e.pool.name);
      checkGpu(['events', i, 'gpu'], 'gpu' in e && !e.pool.randomGpu ? e.gpu : undefined);
      return planned;
    }
    if ('action' in e) {
      if (e.action === 'drain') checkHost(['events', i, 'node'], e.node);
      if (e.action === 'submit') {
        try {
          planned.submit = loadScenarioJob(e.job, dir);
        } catch (err) {
          problem(['events', i, 'job'], (err as Error).message);
        }
      }
      return planned;
    }
    if ('alloc' in e && e.alloc !== undefined && !('host' in e && e.host !== undefined)) {
      // Where the allocation runs is known only when it runs: nothing more to check now.
      checkGpu(['events', i, 'gpu'], 'gpu' in e ? e.gpu : undefined);
      return planned;
    }
    if (!('host' in e) || e.host === undefined) return planned;
    const model = checkHost(['events', i, 'host'], e.host);
    checkGpu(['events', i, 'gpu'], 'gpu' in e ? e.gpu : undefined);
    if (model && KERNEL_KINDS.has(e.inject) && GPU_MODELS[model].vendor !== 'nvidia')
      problem(['events', i, 'inject'], `${e.host} has ${GPU_MODELS[model].vendor} GPUs: ${e.inject} is an NVIDIA driver event`);
    if (model && e.inject === 'sxid' && !NVSWITCH_MODELS.has(model))
      problem(['events', i, 'host'], `${e.host} is a ${model} host without NVSwitches: an SXid cannot happen there`);
    if (model && e.inject === 'ecc-storm' && GPU_MODELS[model].eccMode !== 'enabled')
      problem(['events', i, 'host'], `${e.host} is a ${model} host: its tool reports no ECC counters`);
    if (model && e.inject === 'row-remap' && !GPU_MODELS[model].remapsRows)
      problem(['events', i, 'host'], `${e.host} is a ${model} host: its tool reports no row remapping`);
    if (e.inject === 'tool-failure' && e.failure !== undefined && e.message !== undefined)
      problem(['events', i, 'message'], 'give a recorded failure or a message, not both');
    return planned;
  });
  const lastEventMs = events.reduce((m, e) => Math.max(m, e.at + (e.repeat - 1) * e.every), 0);

  const assertions: PlannedAssertion[] = d.assert.map((a, i) => {
    checkConditionHosts(a.condition, ['assert', i, a.kind], checkHost, checkGpu, checkPool);
    return { ...a, line: lineOf(doc, lines, ['assert', i]), text: describeAssertion(a), startMs: a.at ?? lastEventMs };
  });

  if (problems.length > 0) throw new FleetError('invalid_argument', problems.join('\n'));
  return {
    name: d.name ?? basename(source).replace(/\.ya?ml$/i, ''),
    description: d.description ?? null,
    source,
    dir,
    fleet: { nodes: d.fleet.nodes, mix, seed: d.fleet.seed ?? 1, gpus },
    hostnames,
    models,
    server,
    serverLines,
    agent: { backoffBaseMs: d.agent?.backoffBase ?? 100, backoffCapMs: d.agent?.backoffCap ?? 1000, kernelLogPollMs: d.agent?.kernelLogPoll ?? 50 },
    timeoutMs: d.timeout ?? 60_000,
    events,
    assertions,
    lastEventMs,
    gated: events.some((e) => e.when !== null),
    submitsJobs: events.some((e) => e.submit !== null),
    pools,
  };
}

function checkConditionHosts(
  c: Condition,
  path: (string | number)[],
  checkHost: (p: (string | number)[], h: string) => unknown,
  checkGpu: (p: (string | number)[], g: number | undefined) => void,
  checkPool: (p: (string | number)[], pool: string) => void,
): void {
  if ('pool' in c) {
    checkPool([...path, 'pool'], c.pool);
  } else if ('alert' in c) {
    if (c.alert.node !== undefined) checkHost([...path, 'alert', 'node'], c.alert.node);
    checkGpu([...path, 'alert', 'gpu'], c.alert.gpu);
  } else if ('event' in c) {
    checkHost([...path, 'event', 'node'], c.event.node);
  } else if ('job' in c) {
    // A job's names are checked by the server.
  } else if ('alloc' in c) {
    if (c.node !== undefined) checkHost([...path, 'node'], c.node);
  } else if ('allocations' in c) {
    if (c.allocations.node !== undefined) checkHost([...path, 'allocations', 'node'], c.allocations.node);
  } else {
    checkHost([...path, 'node'], c.node);
    checkGpu([...path, 'gpu'], c.gpu);
  }
}

/** `events[2].code` */
function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** `source:line:col` of the deepest node of `path` the document has. */
function locator(doc: Document, lines: LineCounter, source: string): (path: readonly PropertyKey[]) => string {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) {
        const pos = lines.linePos(node.range[0]);
        return `${source}:${pos.line}:${pos.col}`;
      }
    }
    return source;
  };
}

function lineOf(doc: Document, lines: LineCounter, path: (string | number)[]): number | null {
  const node = doc.getIn(path, true);
  return isNode(node) && node.range ? lines.linePos(node.range[0]).line : null;
}

function ms(n: number): string {
  return n >= 1000 || n === 0 ? `${Math.round(n) / 1000}s` : `${n}ms`;
}

/** One line for the report: `at 1s: xid 79 on sim-h100-001 GPU 3`. */
export function describeEvent(e: ScenarioEvent): string {
  const parts: string[] = [];
  if ('action' in e) {
    parts.push(e.action);
    if (e.action === 'submit') parts.push(typeof e.job === 'string' ? e.job : `job ${String(e.job.name ?? '(inline)')}`);
    if (e.action === 'stop') parts.push(`job ${e.job}${e.purge ? ' (purge)' : ''}`);
    if (e.action === 'drain') parts.push(e.node, ...(e.deadline === undefined ? [] : [`deadline ${ms(e.deadline)}`]));
  } else {
    parts.push(e.inject);
    if ('code' in e) parts.push(String(e.code));
    if ('state' in e) parts.push(e.state);
    if ('target' in e) parts.push(`to ${e.target} °C`);
    if ('failure' in e && e.failure) parts.push(e.failure);
    if ('exitCode' in e && e.exitCode !== undefined) parts.push(`exit code ${e.exitCode}`);
    if (e.pool) parts.push(`on a member of pool ${e.pool.name}`);
    else if ('host' in e && e.host !== undefined) parts.push(`on ${e.host}`);
    else if (e.alloc !== undefined) parts.push(e.inject.startsWith('alloc-') ? `of ${e.alloc}` : `where ${e.alloc} runs`);
    if ('gpu' in e && e.gpu !== undefined && !e.pool?.randomGpu) parts.push(`GPU ${e.gpu}`);
    if ('duration' in e && e.duration !== undefined) parts.push(`for ${ms(e.duration)}`);
    if ('restartAfter' in e && e.restartAfter !== undefined) parts.push(`(restart after ${ms(e.restartAfter)})`);
  }
  const times = e.repeat > 1 ? ` x${e.repeat} every ${ms(e.every)}` : '';
  const gate = e.when ? ` once ${describeCondition(e.when)} (within ${ms(e.withinMs)})` : '';
  return `at ${ms(e.at)}: ${parts.join(' ')}${times}${gate}`;
}

/** One line for the report: `expect sim-h100-001 GPU 3 state UNHEALTHY within 5s`. */
export function describeAssertion(a: Assertion): string {
  const when = a.kind === 'expect' ? `within ${ms(a.windowMs)}` : `during ${ms(a.windowMs)}`;
  return `${a.kind} ${describeCondition(a.condition)} ${when}${a.at === null ? '' : ` from ${ms(a.at)}`}`;
}
