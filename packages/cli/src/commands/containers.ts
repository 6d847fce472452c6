import { Command } from 'commander';
import { hostSelector, labelSafe, parseDurationMs, parseListOutput, signCommand, StreamByHost, type CommandSpec, type ContainerRow } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg, type ApiClient, type Connection } from '../api-client.js';
import { checkSelector } from '../args.js';
import { resolveConnection, type ConnectionFlags } from '../connection.js';
import { CliError, UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { print, termSafe, termSafeOutput, type Column } from '../output.js';
import { relativeTime } from '../units.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';
import { buildPayload, readCapabilityFile, parseTimeout } from '../exec/build-payload.js';
import { RunPrinter } from '../exec/run-printer.js';
import type { RunOutputChunk, RunTargetView, RunView, SubmittedRun } from '../exec/run-types.js';
import type { SseEvent, SseStream } from '../exec/sse-client.js';
import { readRunStream } from '../exec/follow-run.js';

// Container commands are signed runs like `gpufleet exec` (same payload builder, key unlock,
// runs API and SSE client from ../exec/); only the command spec and the way output is shown differ.

type ContainerSpec = Extract<CommandSpec, { kind: 'container' }>;

interface SignFlags extends KeyFlags, ConnectionFlags {
  cap?: string;
  timeout?: string;
}

const CONTAINER_REF = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,253}$/;

/** `NODE/CONTAINER`: the node's hostname and a container id, id prefix or name on it. */
export function parseContainerTarget(text: string): { node: string; container: string; selector: string } {
  const slash = text.indexOf('/');
  if (slash <= 0 || slash === text.length - 1 || text.indexOf('/', slash + 1) !== -1) {
    throw new UsageError(`'${text}' must be NODE/CONTAINER, e.g. gpu-node-07/vllm`);
  }
  const node = text.slice(0, slash).trim();
  const container = text.slice(slash + 1).trim();
  const host = labelSafe(node);
  // The host checks the selector against its own hostname label, which is label-safe text.
  if (host === '' || host !== node) throw new UsageError(`node '${node}' must be a hostname (letters, digits, '.', '_' and '-')`);
  if (!CONTAINER_REF.test(container)) throw new UsageError(`container '${container}' must be a container id, id prefix or name`);
  return { node, container, selector: hostSelector(host) };
}

/** `--since`: a duration back from now (10m, 2h) or an ISO 8601 time; returns epoch ms. */
export function parseSince(text: string, now: number): number {
  const t = text.trim();
  if (/^\d+(ms|s|m|h|d)$/.test(t)) return Math.max(0, now - parseDurationMs(t));
  const at = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : Number.NaN;
  if (!Number.isFinite(at) || at < 0) throw new UsageError(`--since '${text}' must be a duration such as 10m or 2h, or an ISO 8601 time`);
  return at;
}

/** `--tail`: a line count up to 100,000, or `all`. */
export function parseTail(text: string): number | undefined {
  const t = text.trim();
  if (t === 'all') return undefined;
  const n = /^\d{1,6}$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > 100_000) throw new UsageError(`--tail '${text}' must be a line count from 0 to 100000, or all`);
  return n;
}

function listColumns(now: number): Column<ContainerRow>[] {
  return [
    { header: 'NODE', get: (r) => r.node },
    { header: 'NAME', get: (r) => r.name },
    { header: 'IMAGE', get: (r) => r.image },
    { header: 'STATE', get: (r) => r.state },
    { header: 'STATUS', get: (r) => r.status },
    { header: 'CREATED', get: (r) => (r.created > 0 ? relativeTime(r.created, now) : '-'), wide: true },
    { header: 'ID', get: (r) => r.id.slice(0, 12), wide: true },
  ];
}

/** Signs the container command with the operator's key and submits it as a run. */
async function submit(deps: CliDeps, cmd: Command, spec: ContainerSpec, selector: string, defaultTimeout: string, term?: HiddenInput) {
  const o = deps.opts<SignFlags>(cmd);
  const timeoutMs = parseTimeout(o.timeout ?? defaultTimeout);
  const capability = o.cap === undefined ? null : readCapabilityFile(o.cap, deps.io.cwd);
  const client = deps.client(cmd);
  const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
  if (capability && capability.aud !== key.did) throw new UsageError(`--cap ${o.cap} was granted to ${capability.aud}, not to your key ${key.did}`);
  const payload = buildPayload({ spec, selector, timeoutMs, env: {}, cwd: null, runAs: null, invoker: key.did, capability, now: deps.now() });
  const submitted = await client.post<SubmittedRun>('/api/v1/runs', { command: signCommand(payload, key.privateKeyPem) });
  const conn = resolveConnection({ server: o.server, token: o.token, context: o.context }, deps.io);
  return { client, conn, submitted };
}

interface FollowHandlers {
  output(chunk: RunOutputChunk): void;
}

/**
 * Follows a run's SSE stream to `done`, handing each output chunk over once, then reads the final
 * run. Ctrl-C cancels the run (for `logs -f` the normal way out) and waits for it to end; a second
 * Ctrl-C stops following.
 */
async function followToEnd(
  io: CliIo,
  conn: Connection,
  client: ApiClient,
  runId: string,
  h: FollowHandlers,
): Promise<{ view: RunView; canceledByUs: boolean }> {
  const seen = new Set<string>();
  let done = false;
  let failure: Error | null = null;
  let stream: SseStream | null = null;
  let canceledByUs = false;
  let detached = false;
  const parse = <T>(e: SseEvent): T => {
    try {
      return JSON.parse(e.data) as T;
    } catch {
      throw new CliError(`the control plane sent a '${e.event}' event that is not JSON`);
    }
  };
  const onEvent = (e: SseEvent) => {
    try {
      if (e.event === 'output') {
        const chunk = parse<RunOutputChunk>(e);
        // History and live output may overlap when the stream starts mid-run.
        const key = `${chunk.nodeId}\u0000${chunk.stream}\u0000${chunk.chunk}`;
        if (!seen.has(key)) {
          seen.add(key);
          h.output(chunk);
        }
      } else if (e.event === 'done' || e.event === 'error') {
        if (e.event === 'done') done = true;
        else failure = new CliError(`following run ${runId} failed: ${parse<{ message?: string }>(e).message ?? 'unknown error'}`);
        stream?.close();
      }
    } catch (err) {
      failure = err as Error;
      stream?.close();
    }
  };
  const stopListening = io.onInterrupt(() => {
    if (canceledByUs) {
      detached = true;
      stream?.close();
      return;
    }
    canceledByUs = true;
    client.post(`/api/v1/runs/${seg(runId)}/cancel`).catch((err: Error) => io.err(`could not cancel run ${runId}: ${err.message}\n`));
  });
  try {
    await readRunStream(conn, io, runId, onEvent, { settled: () => done || failure !== null || detached, current: (s) => (stream = s) });
  } finally {
    stopListening();
  }
  if (failure) throw failure;
  if (detached) throw new CliError(`stopped following run ${runId}: \`gpufleet runs get ${runId}\``, { exitCode: 130 });
  for (;;) {
    const view = await client.get<RunView>(`/api/v1/runs/${seg(runId)}`);
    if (done || view.state !== 'running') return { view, canceledByUs };
    // The stream was lost before `done`: the run goes on, so wait for it by polling.
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Names each host that did not succeed on stderr and fails the command (exit 1) when there is one.
 * `endedIsOk`: a host stopped by cancel or timeout counts as done (how a followed log ends).
 */
function verdict(io: CliIo, view: RunView, opts: { endedIsOk: boolean }): void {
  const targets = view.targets ?? [];
  const ok = (t: RunTargetView) => t.state === 'succeeded' || (opts.endedIsOk && (t.state === 'canceled' || t.state === 'timed_out'));
  const bad = targets.filter((t) => !ok(t));
  for (const t of bad) {
    const exit = t.exitCode === null ? '' : ` (exit ${t.exitCode})`;
    io.err(`${termSafe(`${t.hostname}: ${t.state.replace('_', ' ')}${t.reason ? `: ${t.reason}` : ''}`)}${exit}\n`);
  }
  if (bad.length > 0) throw new CliError(`${bad.length} of ${targets.length} host${targets.length === 1 ? '' : 's'} did not succeed (run ${view.id})`);
}

/** Options every container command shares: the key, the capability and the run's time limit. */
function signingOptions(cmd: Command, defaultTimeout: string): Command {
  return cmd
    .option('--key <name>', 'operator key to sign with (default: default)')
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .option('--cap <file>', 'your capability (from `caps grant --out`); not needed when your key is a fleet root')
    .option('--timeout <duration>', `stop the operation on the host after this long (default ${defaultTimeout})`);
}

/** `gpufleet containers`: list, read logs of, restart, stop and start containers on fleet hosts. */
export function containersCommand(deps: CliDeps, term?: HiddenInput): Command {
  const containers = new Command('containers')
    .alias('container')
    .description('list containers on fleet hosts, read their logs, restart, stop or start them (signed with your operator key)');
  containers.addHelpText(
    'after',
    `
Each command is a signed run: the host checks your signature and capability (container/logs for
ls and logs, container/restart, container/stop, container/start) before it talks to its Docker
or Podman engine.

Examples:
  gpufleet containers ls -l pool=inference
  gpufleet containers logs gpu-node-07/vllm -f --tail 100
  gpufleet containers logs gpu-node-07/vllm --since 10m
  gpufleet containers restart gpu-node-07/vllm --cap ops.cap.json`,
  );

  signingOptions(
    containers
      .command('ls')
      .alias('list')
      .description('list the containers (running and stopped) on every host a selector matches')
      .addHelpText('after', `\nExamples:\n  gpufleet containers ls\n  gpufleet containers ls -l pool=inference -o json`)
      .option('-l, --selector <selector>', "hosts to ask, e.g. 'pool=inference' (default: all hosts)"),
    '60s',
  ).action(async (_opts, cmd: Command) => {
    const { selector } = deps.opts<{ selector?: string }>(cmd);
    const target = checkSelector(selector) ?? '*';
    const { client, conn, submitted } = await submit(deps, cmd, { kind: 'container', op: 'ls', container: '*' }, target, '60s', term);
    const stdout = new StreamByHost('stdout');
    const { view } = await followToEnd(deps.io, conn, client, submitted.id, {
      output(chunk) {
        if (chunk.stream === 'stderr') deps.io.err(`${termSafe(`${hostOf(submitted, chunk.nodeId)}: ${chunk.data.trimEnd()}`)}\n`);
        stdout.add(chunk);
      },
    });
    const rows: ContainerRow[] = [];
    for (const t of view.targets ?? []) {
      const parsed = parseListOutput(t.hostname, t.nodeId, stdout.text(t.nodeId));
      if (parsed.bad > 0) deps.io.err(`${termSafe(t.hostname)}: ${parsed.bad} line${parsed.bad === 1 ? '' : 's'} of its answer could not be read\n`);
      rows.push(...parsed.rows);
    }
    rows.sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name));
    print(deps.io, deps.format(cmd), { data: { items: rows }, columns: listColumns(deps.now()), rows, empty: 'no containers' });
    verdict(deps.io, view, { endedIsOk: false });
  });

  signingOptions(
    containers
      .command('logs')
      .description("print a container's output; with -f keep following it until Ctrl-C")
      .addHelpText('after', `\nExamples:\n  gpufleet containers logs gpu-node-07/vllm --tail 100\n  gpufleet containers logs gpu-node-07/vllm -f --since 10m`)
      .argument('<target>', 'NODE/CONTAINER: hostname / container id, id prefix or name')
      .option('-f, --follow', 'keep printing new lines until Ctrl-C (or --timeout)')
      .option('--tail <n|all>', 'only the last N lines (then follow)', '100')
      .option('--since <when>', 'only lines since a duration ago (10m, 2h) or an ISO 8601 time'),
    '60s, or 1h with -f',
  ).action(async (targetText: string, _opts, cmd: Command) => {
    const o = deps.opts<{ follow?: boolean; tail: string; since?: string }>(cmd);
    const t = parseContainerTarget(targetText);
    const tail = parseTail(o.tail);
    const spec: ContainerSpec = {
      kind: 'container',
      op: 'logs',
      container: t.container,
      ...(o.follow ? { follow: true } : {}),
      ...(tail === undefined ? {} : { tail }),
      ...(o.since === undefined ? {} : { sinceMs: parseSince(o.since, deps.now()) }),
    };
    const { client, conn, submitted } = await submit(deps, cmd, spec, t.selector, o.follow ? '1h' : '60s', term);
    // One host: its lines as they are (pipe them to grep); several hosts of that name: prefixed.
    const printer = submitted.targets.length > 1 ? new RunPrinter(deps.io, { progress: false, now: deps.now }) : null;
    printer?.hostsAre(submitted.targets);
    const { view, canceledByUs } = await followToEnd(deps.io, conn, client, submitted.id, {
      output(chunk) {
        if (printer) printer.output(chunk);
        else if (chunk.stream === 'truncated') deps.io.err(`[${chunk.data}]\n`);
        // A container's own log: raw into a pipe, only colors kept on a terminal (as run output).
        else if (chunk.stream === 'stderr') deps.io.err(termSafeOutput(chunk.data, deps.io.stderrIsTty ?? deps.io.stdoutIsTty));
        else deps.io.out(termSafeOutput(chunk.data, deps.io.stdoutIsTty));
      },
    });
    printer?.finish();
    // Ctrl-C (cancel) or --timeout is how a follow ends: that is not a failure.
    verdict(deps.io, view, { endedIsOk: canceledByUs || Boolean(o.follow) });
  });

  for (const op of ['restart', 'stop', 'start'] as const) {
    signingOptions(
      containers
        .command(op)
        .description(`${op} a container on one host`)
        .argument('<target>', 'NODE/CONTAINER: hostname / container id, id prefix or name')
        .addHelpText('after', `\nExamples:\n  gpufleet containers ${op} gpu-node-07/vllm`),
      '60s',
    ).action(async (targetText: string, _opts, cmd: Command) => {
      const t = parseContainerTarget(targetText);
      const { client, conn, submitted } = await submit(deps, cmd, { kind: 'container', op, container: t.container }, t.selector, '60s', term);
      const printer = new RunPrinter(deps.io, { progress: false, now: deps.now });
      printer.hostsAre(submitted.targets);
      const { view } = await followToEnd(deps.io, conn, client, submitted.id, { output: (chunk) => printer.output(chunk) });
      printer.finish();
      verdict(deps.io, view, { endedIsOk: false });
    });
  }
  return containers;
}

function hostOf(run: SubmittedRun, nodeId: string): string {
  return run.targets.find((t) => t.nodeId === nodeId)?.hostname ?? nodeId.slice(0, 20);
}
