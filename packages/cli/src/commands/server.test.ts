import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { captureIo, type CapturedIo } from '../testing/capture-io.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-server-cmd-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function until(io: CapturedIo, pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
  const end = Date.now() + ms;
  for (;;) {
    const m = io.stdout.match(pattern);
    if (m) return m;
    if (Date.now() > end) throw new Error(`timed out waiting for ${pattern}; stdout: ${io.stdout} stderr: ${io.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('gpufleet server', () => {
  it('starts, prints the URL and the admin token once, serves the CLI, and stops on Ctrl-C', async () => {
    const io = captureIo({ cwd: dir });
    const done = runCli(['server', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--log-level', 'silent'], io);
    const [, url] = await until(io, /running at (http:\/\/127\.0\.0\.1:\d+)/);
    const [, token] = await until(io, /\n {2}(gft_\S+)\n/);
    expect(readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim()).toBe(token);

    const client = captureIo({ cwd: dir });
    expect(await runCli(['nodes', 'ls', '-o', 'json', '--server', url!, '--token', token!], client)).toBe(0);
    expect(JSON.parse(client.stdout)).toEqual({ items: [], total: 0 });

    io.interrupt('SIGINT');
    expect(await done).toBe(0);
    expect(io.stderr).toContain('SIGINT: stopping the control plane...\nstopped\n');

    // A second start finds the token made before and says where it is, without printing it.
    const again = captureIo({ cwd: dir });
    const second = runCli(['server', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--log-level', 'silent'], again);
    await until(again, /Admin API token: in .*admin-token/);
    expect(again.stdout).not.toContain(token!);
    again.interrupt('SIGTERM');
    expect(await second).toBe(0);
  });

  it('serves TLS beyond loopback; login pins its CA by fingerprint and refuses a wrong one', async () => {
    const io = captureIo({ cwd: dir });
    const done = runCli(['server', '--listen', '0.0.0.0:0', '--data-dir', join(dir, 'data'), '--log-level', 'silent'], io);
    try {
      const [, port] = await until(io, /running at https:\/\/\S+:(\d+) /);
      const [, fingerprint] = await until(io, /CA fingerprint \(sha256\): ([0-9a-f]{64})/);
      const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
      const server = `https://127.0.0.1:${port}`;
      const env = { XDG_CONFIG_HOME: join(dir, 'xdg') };
      const login = (...extra: string[]) => {
        const c = captureIo({ cwd: dir, env });
        return runCli(['login', '--server', server, '--token', token, ...extra], c).then((code) => ({ code, ...c }));
      };

      const untrusted = await login();
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(
        /^error: the TLS certificate of the control plane at https:\/\/127\.0\.0\.1:\d+ is not trusted \(\w+\): run `gpufleet login .*--ca-fingerprint/,
      );

      const wrong = await login(
        '--ca-fingerprint',
        fingerprint!.replace(/^./, (c) => (c === '0' ? '1' : '0')),
      );
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/not trusting it/);

      const pinned = await login('--ca-fingerprint', fingerprint!, '--context', 'tls');
      expect(pinned.code).toBe(0);
      // The pinned CA is saved with the context and used by the next command.
      const ls = captureIo({ cwd: dir, env });
      expect(await runCli(['nodes', 'ls', '-o', 'json'], ls)).toBe(0);
      expect(JSON.parse(ls.stdout).total).toBe(0);
    } finally {
      io.interrupt('SIGINT');
      await done;
    }
  });

  it.each([
    [['--offline-after', 'lots'], /offline-after/],
    [['--listen', 'nonsense'], /'nonsense' is not host:port/],
    [['--heartbeat-interval', 'soon'], /heartbeat-interval/],
    [['--database', 'mysql://x'], /postgres/],
  ])('refuses bad settings %j with exit code 2 and one line', async (args, message) => {
    const io = captureIo({ cwd: dir });
    const code = await runCli(['server', '--data-dir', join(dir, 'data'), ...args], io);
    expect(code).toBe(2);
    expect(io.stderr).toMatch(/^error: /);
    expect(io.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(io.stderr).toMatch(message);
  });

  it('refuses an unknown key in the --config file', async () => {
    const file = join(dir, 'server.yaml');
    await import('node:fs').then((fs) => fs.writeFileSync(file, 'listen: 127.0.0.1:0\nlisten-port: 9\n'));
    const io = captureIo({ cwd: dir });
    expect(await runCli(['server', '--config', file], io)).toBe(2);
    expect(io.stderr).toMatch(/^error: .*'listen-port': unknown key/);
  });
});

describe('gpufleet demo', () => {
  it("starts the server, enrolls this machine's agent, prints what to try, and stops in order", async () => {
    const io = captureIo({ cwd: dir });
    const done = runCli(['demo', '--nodes', '0', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'demo-data')], io);
    const [, url] = await until(io, /API and dashboard\s+(http:\/\/127\.0\.0\.1:\d+)/, 60_000);
    expect(io.stdout).toMatch(/admin API token\s+gft_\S+ {2}\(shown once/);
    expect(io.stdout).toContain('gpufleet gpus ls -l gpu.model=H100');
    // Not the default address, so the banner says how to point the CLI at it.
    expect(io.stdout).toContain(`export GPUFLEET_SERVER=${url}`);

    const token = readFileSync(join(dir, 'demo-data', 'admin-token'), 'utf8').trim();
    const ls = captureIo({ cwd: dir });
    expect(await runCli(['nodes', 'ls', '-o', 'json', '--server', url!, '--token', token], ls)).toBe(0);
    const nodes = JSON.parse(ls.stdout) as { items: { labels: Record<string, string>; simulated: boolean }[] };
    if (/this machine\s+\S+ joined/.test(io.stdout)) {
      // This machine joined with the demo token's label.
      expect(nodes.items).toHaveLength(1);
      expect(nodes.items[0]!.labels.demo).toBe('true');
      expect(nodes.items[0]!.simulated).toBe(false);
    } else {
      expect(io.stdout).toMatch(/this machine\s+could not join: /);
    }

    io.interrupt('SIGINT');
    expect(await done).toBe(0);
    expect(io.stderr).toContain('demo stopped\n');
  });
});

describe('gpufleet sim and a demo with simulated hosts', () => {
  it('demo --nodes 2 enrolls two simulated hosts labeled demo=true', async () => {
    const io = captureIo({ cwd: dir });
    const done = runCli(['demo', '--nodes', '2', '--no-local-agent', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'demo-data')], io);
    const [, url] = await until(io, /API and dashboard\s+(http:\/\/127\.0\.0\.1:\d+)/, 60_000);
    expect(io.stdout).toMatch(/this machine\s+not enrolled \(--no-local-agent\)/);
    expect(io.stdout).toMatch(/simulated fleet\s+2 hosts \(seed 1\)/);
    const token = readFileSync(join(dir, 'demo-data', 'admin-token'), 'utf8').trim();
    const ls = captureIo({ cwd: dir });
    expect(await runCli(['nodes', 'ls', '-l', 'simulated=true,demo=true', '-o', 'json', '--server', url!, '--token', token], ls)).toBe(0);
    expect(JSON.parse(ls.stdout).total).toBe(2);
    io.interrupt('SIGINT');
    expect(await done).toBe(0);
  });

  it('sim makes its own join token through the API and stops on Ctrl-C', async () => {
    const server = captureIo({ cwd: dir });
    const serverDone = runCli(['server', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--log-level', 'silent'], server);
    try {
      const [, url] = await until(server, /running at (http:\/\/127\.0\.0\.1:\d+)/);
      const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
      const sim = captureIo({ cwd: dir });
      const simDone = runCli(['sim', '--nodes', '3', '--seed', '9', '--server', url!, '--token', token], sim);
      await until(sim, /3 simulated hosts \(seed 9\) joined/, 60_000);
      const ls = captureIo({ cwd: dir });
      expect(await runCli(['nodes', 'ls', '-l', 'sim=true', '-o', 'json', '--server', url!, '--token', token], ls)).toBe(0);
      expect(JSON.parse(ls.stdout).total).toBe(3);
      sim.interrupt('SIGINT');
      expect(await simDone).toBe(0);
      expect(sim.stderr).toContain('stopped\n');
    } finally {
      server.interrupt('SIGINT');
      await serverDone;
    }
  });
});
