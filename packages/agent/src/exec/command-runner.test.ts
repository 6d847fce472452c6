import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processAlive, waitGone } from '../testing/process-probe.js';
import { CommandRunner, type CommandRunnerOptions, type RunRequest, type RunResult } from './command-runner.js';
import type { OutputChunk } from './output-chunker.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-runner-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Ran {
  result: RunResult;
  chunks: OutputChunk[];
  pid: number | null;
  stdout: string;
  stderr: string;
}

async function run(
  req: Partial<RunRequest> & Pick<RunRequest, 'command'>,
  opts: CommandRunnerOptions = {},
  during?: (ctl: { cancel(): void; chunks: OutputChunk[] }) => void | Promise<void>,
): Promise<Ran> {
  const chunks: OutputChunk[] = [];
  let pid: number | null | undefined;
  const runner = new CommandRunner({ flushMs: 10, killGraceMs: 300, lingerMs: 300, ...opts });
  const running = runner.start({ timeoutMs: 20_000, ...req }, { onStart: (p) => (pid = p), onOutput: (c) => chunks.push(c) });
  await during?.({ cancel: () => running.cancel(), chunks });
  const result = await running.done;
  expect(pid).not.toBeUndefined();
  const text = (s: 'stdout' | 'stderr') =>
    chunks
      .filter((c) => c.stream === s && !c.truncated)
      .map((c) => c.data)
      .join('');
  return { result, chunks, pid: pid ?? null, stdout: text('stdout'), stderr: text('stderr') };
}

/** Waits until the command has printed `n` lines of pids on stdout, and returns them. */
async function printedPids(chunks: OutputChunk[], n: number): Promise<number[]> {
  const until = Date.now() + 5000;
  for (;;) {
    const pids = chunks
      .filter((c) => c.stream === 'stdout')
      .map((c) => c.data)
      .join('')
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
    if (pids.length >= n) return pids;
    if (Date.now() > until) throw new Error('the command did not print its pids');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('CommandRunner', () => {
  it('runs an argv without a shell and reports its output and exit code', async () => {
    const r = await run({ command: { kind: 'argv', argv: ['echo', 'hello', '$HOME;', 'rm -rf /'] } });
    expect(r.result).toMatchObject({ exitCode: 0, signal: null, timedOut: false, canceled: false, truncated: false });
    // No shell: the metacharacters arrive as plain words.
    expect(r.stdout).toBe('hello $HOME; rm -rf /\n');
    expect(r.result.outputBytes).toBe(Buffer.byteLength(r.stdout));
    expect(typeof r.pid).toBe('number');
    expect(r.chunks[0]).toMatchObject({ stream: 'stdout', chunk: 0 });
  });

  it('runs a shell script with /bin/sh -c and keeps both streams apart', async () => {
    const r = await run({ command: { kind: 'shell', script: 'echo out; echo err >&2; printf "%s" "a|b" | tr "|" "-"; exit 3' } });
    expect(r.result.exitCode).toBe(3);
    expect(r.stdout).toBe('out\na-b');
    expect(r.stderr).toBe('err\n');
  });

  it('runs a library script from a private temp file, with and without a shebang, and removes it', async () => {
    const dir = tempDir();
    const withShebang = await run(
      { command: { kind: 'script', name: 'greet.sh', content: '#!/bin/sh\necho "hi $1 $2"; ls -l "$0" | cut -c1-10\n', args: ['a b', 'c'] } },
      { tmpDir: dir },
    );
    expect(withShebang.result.exitCode).toBe(0);
    expect(withShebang.stdout).toBe('hi a b c\n-rwx------\n');
    const plain = await run({ command: { kind: 'script', name: '../../evil name', content: 'echo "plain $#"\n', args: ['x'] } }, { tmpDir: dir });
    expect(plain.stdout).toBe('plain 1\n');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('gives the command a minimal environment plus its own variables, in the asked directory', async () => {
    const cwd = tempDir();
    process.env.GPUFLEET_TEST_SECRET = 'agent-only';
    cleanups.push(() => delete process.env.GPUFLEET_TEST_SECRET);
    const r = await run({ command: { kind: 'shell', script: 'pwd; env | sort' }, env: { FOO: 'bar baz', LANG: 'en_US.UTF-8' }, cwd });
    const [pwd, ...env] = r.stdout.trim().split('\n');
    expect(pwd).toBe(cwd);
    const vars = Object.fromEntries(env.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(vars.FOO).toBe('bar baz');
    expect(vars.LANG).toBe('en_US.UTF-8');
    expect(vars.PATH).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(vars.HOME).toBeTruthy();
    expect(vars.GPUFLEET_TEST_SECRET).toBeUndefined();
  });

  it('kills the whole process group on timeout', async () => {
    let pids: number[] = [];
    const r = await run({ command: { kind: 'shell', script: 'sleep 100 & echo $!; sleep 100 & echo $!; wait' }, timeoutMs: 500 }, {}, async ({ chunks }) => {
      pids = await printedPids(chunks, 2);
      expect(pids.every(processAlive)).toBe(true);
    });
    expect(r.result.timedOut).toBe(true);
    expect(r.result.canceled).toBe(false);
    expect(r.result.exitCode === null || r.result.exitCode > 128).toBe(true);
    expect(r.result.durationMs).toBeGreaterThanOrEqual(400);
    await waitGone([...pids, r.pid!], 2000);
  });

  it('kills the whole process group on cancel', async () => {
    let pids: number[] = [];
    const r = await run({ command: { kind: 'shell', script: 'sleep 100 & echo $!; sleep 100 & echo $!; wait' } }, {}, async ({ chunks, cancel }) => {
      pids = await printedPids(chunks, 2);
      cancel();
    });
    expect(r.result).toMatchObject({ canceled: true, timedOut: false });
    expect(r.result.signal ?? String(r.result.exitCode)).toMatch(/SIGTERM|143/);
    await waitGone([...pids, r.pid!], 2000);
  });

  it('follows SIGTERM with SIGKILL for a group that ignores it', async () => {
    let pids: number[] = [];
    // An ignored signal stays ignored across fork and exec: every member ignores SIGTERM.
    const r = await run(
      { command: { kind: 'shell', script: "trap '' TERM; sleep 100 & echo $!; echo $$; wait" }, timeoutMs: 300 },
      { killGraceMs: 300 },
      async ({ chunks }) => {
        pids = await printedPids(chunks, 2);
      },
    );
    expect(r.result.timedOut).toBe(true);
    expect(r.result.signal).toBe('SIGKILL');
    await waitGone(pids, 2000);
  });

  it('caps the output with one truncation marker and still counts every byte', async () => {
    const r = await run({ command: { kind: 'shell', script: "head -c 300000 /dev/zero | tr '\\0' a" } }, { outputCapBytes: 100_000 });
    expect(r.result.exitCode).toBe(0);
    expect(r.result.truncated).toBe(true);
    expect(r.result.outputBytes).toBe(300_000);
    expect(r.stdout.length).toBe(100_000);
    const markers = r.chunks.filter((c) => c.truncated);
    expect(markers).toHaveLength(1);
    expect(r.chunks.at(-1)).toBe(markers[0]);
    expect(Math.max(...r.chunks.map((c) => Buffer.byteLength(c.data)))).toBeLessThanOrEqual(16 * 1024);
    // Per-stream sequence numbers are 0, 1, 2, ... without gaps.
    expect(r.chunks.map((c) => c.chunk)).toEqual(r.chunks.map((_, i) => i));
  });

  it('reports a command that is not there as exit 127, and a missing directory as 126', async () => {
    const missing = await run({ command: { kind: 'argv', argv: ['/nonexistent/tool', '-x'] } });
    expect(missing.pid).toBeNull();
    expect(missing.result.exitCode).toBe(127);
    expect(missing.stderr).toMatch(/cannot run \/nonexistent\/tool: ENOENT/);
    const badCwd = await run({ command: { kind: 'argv', argv: ['true'] }, cwd: '/nonexistent/dir' });
    expect(badCwd.pid).toBeNull();
    expect(badCwd.result.exitCode).toBe(126);
    expect(badCwd.stderr).toMatch(/working directory \/nonexistent\/dir does not exist/);
  });

  it('refuses another user when the agent is not root', async () => {
    const r = await run({ command: { kind: 'argv', argv: ['true'] }, runAs: 'postgres' }, { self: { uid: 1000, username: 'alice', home: '/tmp' } });
    expect(r.pid).toBeNull();
    expect(r.result.exitCode).toBe(126);
    expect(r.stderr).toMatch(/runs as 'alice', not as root, so it cannot run a command as 'postgres'/);
    const self = await run({ command: { kind: 'argv', argv: ['true'] }, runAs: 'alice' }, { self: { uid: 1000, username: 'alice', home: '/tmp' } });
    expect(self.result.exitCode).toBe(0);
  });

  it.skipIf(process.getuid?.() !== 0)('runs as another user when the agent is root, scripts included', async () => {
    const r = await run({ command: { kind: 'shell', script: 'id -un; id -u; pwd; echo "$HOME"' }, runAs: 'nobody' });
    expect(r.result.exitCode).toBe(0);
    const [name, uid, pwd] = r.stdout.trim().split('\n');
    expect(name).toBe('nobody');
    expect(Number(uid)).not.toBe(0);
    // nobody's home does not exist: the command starts in /.
    expect(pwd).toBe('/');
    const script = await run({ command: { kind: 'script', name: 's', content: '#!/bin/sh\nid -un\n', args: [] }, runAs: 'nobody' });
    expect(script.stdout).toBe('nobody\n');
    const unknown = await run({ command: { kind: 'argv', argv: ['true'] }, runAs: 'no-such-user-xyz' });
    expect(unknown.result.exitCode).toBe(126);
    expect(unknown.stderr).toMatch(/no user 'no-such-user-xyz'/);
  });

  it('finishes when the command exits even if a background process still holds its output', async () => {
    let leftover = 0;
    const t0 = Date.now();
    const r = await run({ command: { kind: 'shell', script: 'sleep 30 & echo $!' } }, { lingerMs: 200 });
    leftover = Number(r.stdout.trim());
    cleanups.push(() => {
      try {
        process.kill(leftover, 'SIGKILL');
      } catch {
        // gone
      }
    });
    expect(r.result.exitCode).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    // Not a timeout or cancel: what the operator started in the background is left alone.
    expect(processAlive(leftover)).toBe(true);
  });

  it('can be canceled before it starts and then runs nothing', async () => {
    const dir = tempDir();
    const marker = join(dir, 'marker');
    const r = await run({ command: { kind: 'argv', argv: ['touch', marker] } }, {}, ({ cancel }) => cancel());
    expect(r.result.canceled).toBe(true);
    expect(r.pid).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
  });
});
