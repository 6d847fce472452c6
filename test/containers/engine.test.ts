import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { EngineClient, runContainerOp, type ContainerCommandSpec, type ContainerListLine, type LogLine } from '../../packages/agent/src/containers/index.js';
import { PodmanEnv, TEST_IMAGE } from './podman-env.js';

// Against a real Podman serving the Docker Engine API (scripts/podman-test-env.sh). When Podman
// cannot run here, beforeAll fails every test with the reason: CI installs it, so a skip would hide a break.

// `trap` because a shell as PID 1 ignores SIGTERM: without it every stop would wait the full grace time.
const TICKER = "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; echo tock $i >&2; sleep 0.2; done";

let env: PodmanEnv;
let client: EngineClient;
/** Prints `tick N` on stdout and `tock N` on stderr every 200 ms; only read, never stopped. */
let ticker: string;
/** The same ticker with a TTY (raw log stream). */
let ttyTicker: string;
/** Restarted, stopped and started by the tests. */
let victim: string;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function collect(lines: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

const tickNumber = (text: string) => Number(/^tick (\d+)$/.exec(text)?.[1] ?? Number.NaN);

/** runContainerOp with its output captured. */
async function op(spec: Omit<ContainerCommandSpec, 'kind'>, signal: AbortSignal = new AbortController().signal, onLine?: () => void) {
  const out = { stdout: '', stderr: '' };
  const result = await runContainerOp(
    { kind: 'container', ...spec },
    {
      signal,
      onOutput(stream, data) {
        out[stream] += data;
        onLine?.();
      },
    },
    { socketPath: env.socketPath },
  );
  return { ...result, ...out };
}

beforeAll(async () => {
  env = await PodmanEnv.start();
  client = new EngineClient({ socketPath: env.socketPath });
  [ticker, ttyTicker, victim] = await Promise.all([
    env.runContainer('tick', TICKER),
    env.runContainer('tty', "trap 'exit 0' TERM; while true; do echo ttytick; sleep 0.2; done", { tty: true }),
    env.runContainer('victim', TICKER),
  ]);
  // Enough history for tail and since to mean something.
  await waitFor('ten ticks', async () => ((await collect(client.logs(ticker))).filter((l) => l.stream === 'stdout').length >= 10 ? true : undefined));
}, 60_000);

afterAll(async () => {
  await env?.close();
}, 60_000);

describe('EngineClient against a real Podman', () => {
  it('lists the running containers with name, image and state', async () => {
    const list = await client.list();
    const mine = list.find((c) => c.name === ticker);
    expect(mine).toMatchObject({ name: ticker, image: TEST_IMAGE, state: 'running' });
    expect(mine!.id).toMatch(/^[0-9a-f]{64}$/);
    expect(mine!.status).toMatch(/^Up/);
    expect(Math.abs(mine!.created - Date.now())).toBeLessThan(5 * 60_000);
  });

  it('finds a container by name, id and id prefix', async () => {
    const byName = await client.inspect(ticker);
    expect(byName.name).toBe(ticker);
    expect(byName.tty).toBe(false);
    expect((await client.inspect(byName.id)).name).toBe(ticker);
    expect((await client.inspect(byName.id.slice(0, 12))).name).toBe(ticker);
    expect((await client.inspect(ttyTicker)).tty).toBe(true);
  });

  it('returns the most recent lines with tail, from both streams', async () => {
    const all = (await collect(client.logs(ticker))).filter((l) => l.stream === 'stdout');
    const lines = await collect(client.logs(ticker, { tail: 4 }));
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l.text).toMatch(l.stream === 'stdout' ? /^tick \d+$/ : /^tock \d+$/);
    expect(new Set(lines.map((l) => l.stream))).toEqual(new Set(['stdout', 'stderr']));
    // The tail is the end of the log (read after `all`, so it can only be newer), not its beginning.
    const tailTicks = lines.filter((l) => l.stream === 'stdout').map((l) => tickNumber(l.text));
    expect(Math.min(...tailTicks)).toBeGreaterThan(all.length - 4);
  });

  it('returns only lines written since a time', async () => {
    const all = await collect(client.logs(ticker));
    const recent = await collect(client.logs(ticker, { sinceMs: Date.now() - 1_000 }));
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.length).toBeLessThan(all.length);
    // Not from the start of the log: the first tick of the last second is a late one.
    const first = recent.find((l) => l.stream === 'stdout')!;
    expect(tickNumber(first.text)).toBeGreaterThan(1);
  });

  it('reads a TTY container (raw stream) line by line without carriage returns', async () => {
    const lines = await collect(client.logs(ttyTicker, { tail: 3 }));
    expect(lines).toEqual(Array.from({ length: 3 }, () => ({ stream: 'stdout', text: 'ttytick' })));
  });

  it('follows new lines live and stops when aborted', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const started = Date.now();
    let abortedAt = 0;
    for await (const line of client.logs(ticker, { follow: true, tail: 0, signal: ac.signal })) {
      if (line.stream !== 'stdout') continue;
      seen.push(tickNumber(line.text));
      if (seen.length === 5) {
        abortedAt = Date.now();
        ac.abort();
      }
    }
    expect(Date.now() - abortedAt).toBeLessThan(2_000);
    // Five consecutive fresh lines arrive at the container's pace (200 ms), not all at once from history.
    expect(seen).toEqual(Array.from({ length: 5 }, (_, i) => seen[0]! + i));
    expect(abortedAt - started).toBeGreaterThan(500);
  });

  it('restart changes StartedAt and the container keeps running', async () => {
    const before = await client.inspect(victim);
    expect(await client.restart(victim, { stopTimeoutS: 5 })).toEqual({ changed: true });
    const after = await client.inspect(victim);
    expect(after.state.running).toBe(true);
    expect(after.state.startedAt).not.toBe(before.state.startedAt);
    expect(Date.parse(after.state.startedAt!)).toBeGreaterThan(Date.parse(before.state.startedAt!));
  });

  it('stop and start change the state, and say when nothing had to change', async () => {
    expect(await client.stop(victim, { stopTimeoutS: 5 })).toEqual({ changed: true });
    expect((await client.inspect(victim)).state.running).toBe(false);
    expect(await client.stop(victim)).toEqual({ changed: false });
    expect(await client.start(victim)).toEqual({ changed: true });
    expect((await client.inspect(victim)).state.running).toBe(true);
    expect(await client.start(victim)).toEqual({ changed: false });
  });

  it('fails with not_found and the engine message for an unknown container', async () => {
    for (const call of [
      () => client.inspect('gf-no-such-container'),
      () => client.restart('gf-no-such-container'),
      () => collect(client.logs('gf-no-such-container')),
    ]) {
      const err = await call().catch((e: unknown) => e);
      expect(FleetError.is(err, 'not_found'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/no such container/i);
    }
  });
});

describe('runContainerOp against a real Podman', () => {
  it('ls prints one JSON line per container', async () => {
    const r = await op({ op: 'ls', container: '*' });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as ContainerListLine);
    const mine = lines.filter((l) => [ticker, ttyTicker, victim].includes(l.name));
    expect(mine).toHaveLength(3);
    for (const l of mine) expect(Object.keys(l).sort()).toEqual(['created', 'id', 'image', 'name', 'state', 'status']);
    expect(mine.find((l) => l.name === ticker)).toMatchObject({ image: TEST_IMAGE, state: 'running' });
  });

  it('logs with tail writes the lines to the stream they came from', async () => {
    const r = await op({ op: 'logs', container: ticker, tail: 6 });
    expect(r.exitCode).toBe(0);
    const out = r.stdout.trimEnd().split('\n');
    const err = r.stderr.trimEnd().split('\n');
    expect(out.length + err.length).toBe(6);
    for (const l of out) expect(l).toMatch(/^tick \d+$/);
    for (const l of err) expect(l).toMatch(/^tock \d+$/);
  });

  it('logs with follow streams until the signal aborts, then exits 0', async () => {
    const ac = new AbortController();
    let count = 0;
    const r = await op({ op: 'logs', container: ticker, follow: true, tail: 0 }, ac.signal, () => {
      if (++count === 4) ac.abort();
    });
    expect(r.exitCode).toBe(0);
    expect((r.stdout + r.stderr).trimEnd().split('\n').length).toBeGreaterThanOrEqual(4);
  });

  it('logs with follow ends by itself when the container stops', async () => {
    const done = op({ op: 'logs', container: victim, follow: true, tail: 0 });
    await new Promise((r) => setTimeout(r, 600));
    await client.stop(victim, { stopTimeoutS: 5 });
    const r = await done;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^tick \d+$/m);
    await client.start(victim);
  });

  it('restart, stop and start print one result line each', async () => {
    const id = (await client.inspect(victim)).id.slice(0, 12);
    expect(await op({ op: 'restart', container: victim })).toEqual({ exitCode: 0, stdout: `restarted ${victim} (${id})\n`, stderr: '' });
    expect(await op({ op: 'stop', container: id })).toEqual({ exitCode: 0, stdout: `stopped ${victim} (${id})\n`, stderr: '' });
    expect(await op({ op: 'stop', container: victim })).toEqual({ exitCode: 0, stdout: `${victim} (${id}) was not running\n`, stderr: '' });
    expect(await op({ op: 'start', container: victim })).toEqual({ exitCode: 0, stdout: `started ${victim} (${id})\n`, stderr: '' });
    expect(await op({ op: 'start', container: victim })).toEqual({ exitCode: 0, stdout: `${victim} (${id}) was already running\n`, stderr: '' });
  });

  it('an unknown container, a bad reference or a missing engine is one error line and exit 1', async () => {
    const unknown = await op({ op: 'restart', container: 'gf-no-such-container' });
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/^error: .*no such container.*\n$/i);

    const bad = await op({ op: 'logs', container: '../../images/json' });
    expect([bad.exitCode, bad.stderr]).toEqual([1, 'error: not a container id or name: "../../images/json"\n']);

    let noneErr = '';
    const none = await runContainerOp(
      { kind: 'container', op: 'ls', container: '*' },
      { signal: new AbortController().signal, onOutput: (_s, d) => void (noneErr += d) },
      { socketPath: `${env.dir}/absent.sock` },
    );
    expect(none.exitCode).toBe(1);
    expect(noneErr).toMatch(/^error: no container engine answers on .*absent\.sock/);
  });
});
