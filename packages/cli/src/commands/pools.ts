import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { Command } from 'commander';
import {
  parseDurationMs,
  parsePoolsFile,
  POOL_NAME,
  POOLS_FILE_MAX_BYTES,
  type ApplyPoolsRequest,
  type ApplyPoolsResult,
  type PoolDetailView,
  type PoolEventView,
  type PoolOperationView,
  type PoolView,
} from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg, type ApiClient } from '../api-client.js';
import { UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { print, renderData, termSafe, type OutputFormat } from '../output.js';
import { eventLine, poolColumns, renderApplyResult, renderPoolDetail, sizeCell } from '../views/pool-views.js';

const MAX_REASON = 500;
const EVENTS_MAX_LIMIT = 1000;

/** A pool name typed by a person, checked before any request. */
function checkPoolName(name: string): string {
  if (name.length > 63 || !POOL_NAME.test(name)) throw new UsageError(`'${name}' is not a pool name (lowercase letters, digits and -; see gpufleet pools ls)`);
  return name;
}

function checkReason(reason: string | undefined): string {
  const text = reason?.trim() ?? '';
  if (text === '') throw new UsageError('--reason is required: say why (it is kept in the pool events and the audit log)');
  if (text.length > MAX_REASON) throw new UsageError(`--reason is at most ${MAX_REASON} characters`);
  return text;
}

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max)
    throw new UsageError(`${flag} '${text}' must be a whole number from ${min} to ${max}`);
  return Number(text);
}

/** `--interval`: how often `events -f` asks for new events, 100ms to 1m. */
function pollInterval(text: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch {
    throw new UsageError(`--interval '${text}' is not a duration such as 500ms, 2s or 10s`);
  }
  if (ms < 100 || ms > 60_000) throw new UsageError(`--interval '${text}' must be from 100ms to 1m`);
  return ms;
}

function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The pools file's text, from a path (relative to the working folder) or stdin (`-`). */
function readPoolsFile(file: string, io: CliIo, stdin: string | undefined): { source: string; path: string | null } {
  if (file === '-') {
    if (stdin === undefined || stdin === '') throw new UsageError('no pools file on stdin');
    return { source: stdin, path: null };
  }
  const path = resolve(io.cwd, file);
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new UsageError(`${file} is a folder, not a pools file`);
    // A huge file is refused before it is read whole.
    if (st.size > POOLS_FILE_MAX_BYTES) throw new UsageError(`${file} is ${st.size} bytes; a pools file is at most 1 MiB`);
    return { source: readFileSync(path, 'utf8'), path };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read pools file ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`);
  }
}

/** Waits `ms`, or less when `stop` fires first; answers whether it was stopped. */
function pause(ms: number, stopped: { promise: Promise<void> }): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const slept = new Promise<boolean>((done) => {
    timer = setTimeout(() => done(false), ms);
  });
  return Promise.race([slept, stopped.promise.then(() => true)]).finally(() => clearTimeout(timer));
}

/** Prints events as they come: lines for people, one JSON object a line (or YAML documents) for programs. */
function eventPrinter(io: CliIo, format: OutputFormat, showPool: boolean): (events: PoolEventView[]) => void {
  return (events) => {
    for (const e of events) {
      if (format === 'json') io.out(`${JSON.stringify(e)}\n`);
      else if (format === 'yaml') io.out(`---\n${renderData(e, 'yaml')}`);
      else io.out(eventLine(e, { showPool }));
    }
  };
}

/** `pools events -f`: the newest page, then every new event by polling the cursor, until Ctrl-C. */
async function followEvents(
  io: CliIo,
  client: ApiClient,
  path: string,
  first: { items: PoolEventView[]; next: number | null },
  pollMs: number,
  show: (e: PoolEventView[]) => void,
): Promise<void> {
  let resolveStop = () => {};
  const stopped = { promise: new Promise<void>((r) => (resolveStop = r)) };
  let stop = false;
  const unlisten = io.onInterrupt(() => {
    stop = true;
    resolveStop();
  });
  try {
    show(first.items);
    let cursor = first.next ?? 0;
    while (!stop) {
      if (await pause(pollMs, stopped)) break;
      const page = await client.get<{ items: PoolEventView[]; next: number | null }>(path, { after: cursor, limit: EVENTS_MAX_LIMIT });
      show(page.items);
      cursor = page.next ?? cursor;
    }
  } finally {
    unlisten();
  }
}

/** `gpufleet pools ls|get|scale|events|apply|replace`. */
export function poolsCommand(deps: CliDeps): Command {
  const pools = new Command('pools')
    .alias('pool')
    .description('GPU capacity that provisions itself: pools of nodes from a provider (sim, ssh, lambda, aws), scaled and repaired by the control plane');
  pools.addHelpText(
    'after',
    `
A pools file (YAML) names providers and pools: which instance type, in which zones, between how
many nodes, when to grow or shrink, and when an unhealthy node is replaced (a new node first,
then the old one drained and terminated, so a pool never drops below its floor for a repair).

Examples:
  gpufleet pools apply examples/pools/sim.yaml    apply a pools file (errors name the line)
  gpufleet pools ls                               size, GPUs, allocated share and cost of each
  gpufleet pools get training                     members and in-flight provisions/replacements
  gpufleet pools scale training --to 8 --reason "demo tomorrow"
  gpufleet pools events training -f               decisions and steps as they happen
  gpufleet pools replace training gpu-node-07 --reason "fans failing"`,
  );

  pools
    .command('ls')
    .alias('list')
    .description('list pools: provider, nodes ready/desired (min..max), GPUs, allocated %, $/h, operations in flight')
    .addHelpText(
      'after',
      `
READY counts nodes enrolled, online and not cordoned; DESIRED is what the pool manager works
toward (the floor, a \`pools scale\`, or the autoscaler: see -o wide). IN-FLIGHT counts
provisions, replacements and removals not yet done.

Examples:
  gpufleet pools ls
  gpufleet pools ls -o wide
  gpufleet pools ls -o json | jq '.items[] | select(.ready < .desired) | .name'`,
    )
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<{ items: PoolView[] }>('/api/v1/pools');
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: poolColumns(deps.now()),
        rows: result.items,
        empty: 'no pools yet (apply a pools file: gpufleet pools apply FILE; see examples/pools/)',
      });
    });

  pools
    .command('get')
    .alias('status')
    .description("one pool: its settings, size and cost, each member's node, state and health, and operations in flight with their stage")
    .argument('<name>', 'pool name')
    .addHelpText(
      'after',
      `
An operation's stage says where it is: a replacement goes requested → provisioning → joining →
draining → terminating → done (the old node is drained only once its replacement is READY).

Examples:
  gpufleet pools get training
  gpufleet pools get training -o wide
  gpufleet pools get training -o yaml`,
    )
    .action(async (name: string, _opts, cmd: Command) => {
      const pool = await deps.client(cmd).get<PoolDetailView>(`/api/v1/pools/${seg(checkPoolName(name))}`);
      print(deps.io, deps.format(cmd), { data: pool, text: (wide) => renderPoolDetail(pool, { now: deps.now(), width: deps.io.columns, wide }) });
    });

  pools
    .command('scale')
    .description("set a pool's desired number of nodes (within its min..max); the pool manager provisions or removes idle nodes to reach it")
    .argument('<name>', 'pool name')
    .requiredOption('--to <n>', 'the desired number of nodes')
    .requiredOption('--reason <text>', 'why, kept in the pool events and the audit log')
    .addHelpText(
      'after',
      `
Only idle nodes (no allocations, no runs) are removed when scaling down. The autoscaler, where
the pool has one, may change the size again later; \`pools get\` says who set it.

Examples:
  gpufleet pools scale training --to 8 --reason "demo tomorrow"
  gpufleet pools scale training --to 2 --reason "weekend" -o json`,
    )
    .action(async (name: string, _opts, cmd: Command) => {
      const o = deps.opts<{ to: string; reason: string }>(cmd);
      checkPoolName(name);
      const to = wholeNumber('--to', o.to, 0, 100_000);
      const reason = checkReason(o.reason);
      const pool = await deps.client(cmd).post<PoolView>(`/api/v1/pools/${seg(name)}/scale`, { to, reason });
      print(deps.io, deps.format(cmd), { data: pool, text: () => `pool ${pool.name} scaling to ${pool.desired}: now ${sizeCell(pool)}\n` });
    });

  pools
    .command('events')
    .description('decisions and steps of a pool (or of every pool) with their reasons; -f follows new ones')
    .argument('[name]', 'pool name (default: every pool)')
    .option('-f, --follow', 'keep printing new events until Ctrl-C')
    .option('--limit <n>', 'how many of the newest events to show first (1 to 1000)', '50')
    .option('--interval <duration>', 'how often to ask for new events while following', '2s')
    .addHelpText(
      'after',
      `
Each line is one decision or step: when (UTC), what, and why, e.g.
  2026-12-05 12:04:05  scale-up          scale up 2: 5 allocations pending, no free H100
With -o json, one JSON object per line (also while following).

Examples:
  gpufleet pools events training
  gpufleet pools events training -f
  gpufleet pools events --limit 200
  gpufleet pools events training -f -o json | jq -r .message`,
    )
    .action(async (name: string | undefined, _opts, cmd: Command) => {
      const o = deps.opts<{ follow?: boolean; limit: string; interval: string }>(cmd);
      const path = name === undefined ? '/api/v1/pool-events' : `/api/v1/pools/${seg(checkPoolName(name))}/events`;
      const limit = wholeNumber('--limit', o.limit, 1, EVENTS_MAX_LIMIT);
      const pollMs = pollInterval(o.interval);
      const format = deps.format(cmd);
      const client = deps.client(cmd);
      const first = await client.get<{ items: PoolEventView[]; next: number | null }>(path, { limit });
      const show = eventPrinter(deps.io, format, name === undefined);
      if (o.follow) return followEvents(deps.io, client, path, first, pollMs, show);
      if (format === 'json' || format === 'yaml') deps.io.out(renderData(first, format));
      else if (first.items.length === 0) deps.io.err(`no events yet${name === undefined ? '' : ` for pool ${name}`}\n`);
      else show(first.items);
    });

  pools
    .command('apply')
    .description('apply a pools file: its providers and pools replace those applied before; prints what changed')
    .argument('<file>', "the pools file (YAML); '-' reads it from stdin")
    .option(
      '--base-dir <dir>',
      "where relative paths in the file (an ssh provider's hosts_file) are found on the server (default: the file's folder when the server runs on this machine)",
    )
    .addHelpText(
      'after',
      `
The file is checked here first: a mistake is reported with its line and field, e.g.
  pools.yaml:12:16: pools.training.min_nodes: 5 is above max_nodes (2)
A pool left out of the file is no longer managed; its nodes keep running. Needs an admin token.

Examples:
  gpufleet pools apply examples/pools/sim.yaml
  gpufleet pools apply pools.yaml -o json
  cat pools.yaml | gpufleet pools apply - --base-dir /etc/gpufleet`,
    )
    .action(async (file: string, _opts, cmd: Command) => {
      const o = deps.opts<{ baseDir?: string }>(cmd);
      const { source, path } = readPoolsFile(file, deps.io, file === '-' ? await deps.io.readStdin() : undefined);
      const filename = path === null ? 'stdin' : basename(path);
      // FleetError('invalid_argument'): exit code 2, one line with file:line:col and the field.
      parsePoolsFile(source, { file: filename });
      const client = deps.client(cmd);
      let baseDir: string | undefined;
      if (o.baseDir !== undefined) baseDir = isAbsolute(o.baseDir) ? o.baseDir : resolve(deps.io.cwd, o.baseDir);
      else if (path !== null && isLoopbackUrl(client.server)) baseDir = dirname(path);
      const body: ApplyPoolsRequest = { source, filename, ...(baseDir === undefined ? {} : { baseDir }) };
      const result = await client.post<ApplyPoolsResult>('/api/v1/pools/apply', body);
      print(deps.io, deps.format(cmd), { data: result, text: () => renderApplyResult(result) });
    });

  pools
    .command('replace')
    .description('replace a node of a pool: it is cordoned, a new node provisioned, then the old one drained and terminated')
    .argument('<name>', 'pool name')
    .argument('<node>', 'the node to replace: its hostname or id')
    .requiredOption('--reason <text>', 'why, kept in the pool events and the audit log')
    .addHelpText(
      'after',
      `
The old node keeps its allocations until the replacement is READY; if the replacement cannot
come up, the old node stays cordoned (not terminated) and the operation ends failed. Follow it
with \`gpufleet pools get NAME\` or \`gpufleet pools events NAME -f\`.

Examples:
  gpufleet pools replace training gpu-node-07 --reason "fans failing"
  gpufleet pools replace training gpu-node-07 --reason "XID 79 twice" -o json`,
    )
    .action(async (name: string, node: string, _opts, cmd: Command) => {
      const o = deps.opts<{ reason: string }>(cmd);
      checkPoolName(name);
      if (node.trim() === '' || node.length > 200) throw new UsageError('<node> is a node hostname or id (at most 200 characters)');
      const reason = checkReason(o.reason);
      const op = await deps.client(cmd).post<PoolOperationView>(`/api/v1/pools/${seg(name)}/replace`, { node, reason });
      print(deps.io, deps.format(cmd), {
        data: op,
        text: () => `replacing ${termSafe(op.oldNodeId ?? node)} in pool ${op.pool}: operation ${op.id}, stage ${op.stage}\n`,
      });
    });

  return pools;
}
