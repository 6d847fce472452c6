import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, encodeJoinToken } from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { StubBackend } from '../testing/stub-backend.js';
import { runAgentCommand, parseLabelArgs, type CommandDeps } from './commands.js';
import { loadIdentity } from './identity.js';
import { silentLogger } from './logger.js';

let dir: string;
let cp: FakeControlPlane | null = null;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-cmd-'));
});
afterEach(async () => {
  await cp?.stop();
  cp = null;
  rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[], deps: CommandDeps = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runAgentCommand(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    backend: () => new StubBackend(),
    logger: silentLogger,
    ...deps,
  });
  return { code, stdout, stderr };
}

describe('gpufleet-agent command line', () => {
  it('prints help (0) and usage without a command (2)', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: gpufleet-agent <command>/);
    expect(help.stdout).toMatch(/join <token>/);
    expect((await run([])).code).toBe(2);
    expect((await run(['--help'], { programName: 'gpufleet agent' })).stdout).toMatch(/usage: gpufleet agent/);
  });

  it('prints the usage for --help after any command (before a launch -- separator)', async () => {
    for (const argv of [
      ['run', '--help'],
      ['sideload', '-h'],
      ['launch', '--help', '--', '--data-dir', dir],
      ['join', '--help'],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^usage: gpufleet-agent <command>/);
      expect(r.stdout).toMatch(/--hostname NAME/);
    }
  });

  it('prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await run(['--version']);
    expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('answers usage mistakes with one line and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['join'], /join needs the join token/],
      [['join', 'a', 'b'], /exactly one token/],
      [['join', 'tok', '--label', 'novalue'], /--label wants key=value/],
      [['join', 'tok', '--label', 'bad key=x'], /not a valid label key/],
      [['join', 'tok', '--bogus'], /Unknown option '--bogus'/],
      [['run', '--log-level', 'loud'], /--log-level must be one of/],
      [['run', 'extra'], /run takes no arguments/],
      [['run', '--kernel-log', ''], /--kernel-log needs auto, off or a file path/],
      [['run', '--commands', 'maybe'], /--commands must be on or off, got 'maybe'/],
      [['run', '--commands', ''], /--commands must be on or off/],
      [['run', '--workloads', 'sometimes'], /--workloads must be on or off, got 'sometimes'/],
      [['run', '--workloads', ''], /--workloads must be on or off/],
      [['join', 'tok', '--hostname', ''], /--hostname must be 1-253 letters/],
      [['join', 'tok', '--hostname', 'bad name'], /--hostname must be .* got 'bad name'/],
      [['run', '--hostname=-leading'], /--hostname must be/],
      [['run', '--hostname', 'x'.repeat(254)], /--hostname must be/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('says "join first" (exit 1, one line) when run finds no key', async () => {
    const r = await run(['run', '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`gpufleet-agent: error: no node key in ${dir}: join a fleet first (gpufleet-agent join <token> --data-dir ${dir})\n`);
  });

  it('reports a garbage token as a runtime error without a stack trace', async () => {
    const r = await run(['join', 'gfj1.@@@', '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gpufleet-agent: error: join token is damaged/);
    expect(r.stderr).not.toMatch(/ at /);
  });

  it('joins, then runs until stopped, exiting 0', async () => {
    cp = new FakeControlPlane({ tokens: { t1: { secret: 'x' } }, heartbeatMs: 50 });
    await cp.start();
    const token = encodeJoinToken({ url: cp.url, caFingerprint: null, roots: [], tokenId: 't1', secret: 'x' });
    const joined = await run(['join', token, '--data-dir', dir]);
    expect(joined.stderr).toBe('');
    expect(joined.code).toBe(0);
    const did = loadIdentity(dir)!.did;
    expect(joined.stdout).toContain(`node id: ${did}`);
    expect(joined.stdout).toContain('status:  READY');

    const abort = new AbortController();
    const running = run(['run', '--data-dir', dir], { signal: abort.signal });
    const node = cp.nodes.get(did)!;
    await cp.waitFor('session', () => node.welcomes === 1 && node.inventories.length === 1);
    // A second agent on the same data dir is refused while the first runs.
    const second = await run(['run', '--data-dir', dir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another gpufleet-agent \(pid \d+\) is already running/);
    abort.abort();
    const r = await running;
    expect(r.code).toBe(0);
    expect(cp.violations).toEqual([]);
  });

  it('reports the name --hostname gives in its inventory', async () => {
    cp = new FakeControlPlane({ tokens: { t1: { secret: 'x' } }, heartbeatMs: 50 });
    await cp.start();
    const token = encodeJoinToken({ url: cp.url, caFingerprint: null, roots: [], tokenId: 't1', secret: 'x' });
    expect((await run(['join', token, '--data-dir', dir, '--hostname', 'gpu-node-7.example'])).code).toBe(0);
    const node = cp.nodes.get(loadIdentity(dir)!.did)!;
    const abort = new AbortController();
    const running = run(['run', '--data-dir', dir, '--hostname', 'gpu-node-7.example'], { signal: abort.signal });
    await cp.waitFor('inventory', () => node.inventories.length === 1);
    expect(node.inventories[0]?.body.host.hostname).toBe('gpu-node-7.example');
    abort.abort();
    expect((await running).code).toBe(0);
  });

  it('exits 1 with the reason when the server refuses the node', async () => {
    cp = new FakeControlPlane({ tokens: { t1: { secret: 'x', status: 'PENDING' } } });
    await cp.start();
    const token = encodeJoinToken({ url: cp.url, caFingerprint: null, roots: [], tokenId: 't1', secret: 'x' });
    const joined = await run(['join', token, '--data-dir', dir]);
    expect(joined.stdout).toMatch(/an administrator must approve this node/);
    cp.nodes.get(loadIdentity(dir)!.did)!.refuse = { code: CLOSE_CODES.forbidden, message: 'this node was removed from the fleet' };
    const r = await run(['run', '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('gpufleet-agent: error: permission_denied: this node was removed from the fleet\n');
  });
});

describe('parseLabelArgs', () => {
  it('parses repeated key=value pairs; the last of a repeated key wins', () => {
    expect(parseLabelArgs(['region=eu', 'rack=r1:a', 'region=us', 'empty='])).toEqual({ region: 'us', rack: 'r1:a', empty: '' });
  });

  it('refuses a value a label selector could not match', () => {
    expect(() => parseLabelArgs(['rack=r1=a'])).toThrow(/not a valid label value/);
  });
});
