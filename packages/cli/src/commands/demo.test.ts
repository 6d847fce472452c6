import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { captureIo, type CapturedIo } from '../testing/capture-io.js';

/**
 * `gpufleet demo` from a fresh data dir, in-process, with a small simulated fleet: the signed
 * exec it suggests works at once, simulated hosts answer nvidia-smi, and `gpufleet sim inject`
 * acts on the running fleet.
 */

let cwd: string;
let dataDir: string;
let url: string;
let adminToken: string;
let demoIo: CapturedIo;
let demo: Promise<number>;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\ndemo stderr:\n${demoIo.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function cli(argv: string[]) {
  const io = captureIo({ env: {}, cwd, columns: 200 });
  const code = await runCli(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

interface NodeLite {
  hostname: string;
  status: string;
  connected: boolean;
  gpus: { index: number; state: string; health: { verdict: string } | null }[];
}

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'gpufleet-demo-e2e-'));
  dataDir = join(cwd, 'fleet');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  demoIo = captureIo({ env: {}, cwd, columns: 200 });
  demo = runCli(['demo', '--nodes', '3', '--seed', '5', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--no-local-agent', '--no-faults'], demoIo);
  let exited: number | null = null;
  void demo.then((code) => (exited = code));
  await waitFor(
    'the demo banner',
    () => {
      if (exited !== null) throw new Error(`the demo exited with ${exited}: ${demoIo.stderr}`);
      return demoIo.stdout.includes('gpufleet demo is running');
    },
    60_000,
  );
  adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  await waitFor('three connected simulated hosts', async () => {
    const nodes = await api<{ items: NodeLite[] }>('/api/v1/nodes?selector=simulated%3Dtrue');
    return nodes.items.length === 3 && nodes.items.every((n) => n.connected && n.status === 'READY') && nodes.items;
  });
}, 90_000);

afterAll(async () => {
  demoIo?.interrupt('SIGINT');
  const code = await demo;
  // Stopped: its control endpoint's file is gone with it.
  const controlLeft = existsSync(join(dataDir, 'sim-control.json'));
  rmSync(cwd, { recursive: true, force: true });
  expect(code).toBe(0);
  expect(controlLeft).toBe(false);
}, 60_000);

describe('gpufleet demo', () => {
  it('makes a demo key (0600, in the data dir) and a fleet root before hosts join, and says how to sign', async () => {
    const keyFile = join(dataDir, 'demo-operator.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = JSON.parse(readFileSync(keyFile, 'utf8')) as { did: string; encrypted: boolean };
    expect(key.encrypted).toBe(false);
    const roots = await api<{ roots: string[] }>('/api/v1/roots');
    expect(roots.roots).toEqual([key.did]);
    expect(demoIo.stdout).toContain('gpufleet exec -l gpu.vendor=nvidia,simulated=true --key ./fleet/demo-operator.key -- nvidia-smi -L');
    expect(demoIo.stdout).toMatch(/gpufleet sim inject sim-\S+ xid 79 --gpu 3 --data-dir \.\/fleet/);
  });

  it('runs the signed exec it suggests: nvidia-smi -L on every simulated host prints its GPUs', async () => {
    const r = await cli([
      'exec',
      '-l',
      'simulated=true',
      '--key',
      './fleet/demo-operator.key',
      '--no-progress',
      '--server',
      url,
      '--token',
      adminToken,
      '--',
      'nvidia-smi',
      '-L',
    ]);
    expect(r.stderr).not.toMatch(/refused|unknown_issuer|ENOENT/);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const gpuLines = r.stdout.split('\n').filter((l) => /^sim-\S+ +\| GPU \d: NVIDIA .+ \(UUID: GPU-[0-9a-f-]{36}\)$/.test(l));
    expect(gpuLines).toHaveLength(3 * 8);
    expect(new Set(gpuLines.map((l) => l.split(' ')[0]))).toEqual(new Set(['sim-h100-001', 'sim-a100-001', 'sim-l40s-001']));
    expect(r.stdout).toMatch(/succeeded/);
  }, 60_000);

  it('`sim inject HOST xid 79` on the running demo: the GPU turns UNHEALTHY and is cordoned', async () => {
    const r = await cli(['sim', 'inject', 'sim-h100-001', 'xid', '79', '--gpu', '2', '--data-dir', './fleet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^injected on sim-h100-001: XID 79 on GPU 2/);
    expect(r.stdout).toMatch(/kernel log: .*NVRM: Xid \(PCI:0000:[0-9a-f]{2}:00\): 79,/);
    const node = await waitFor('GPU 2 cordoned', async () => {
      const n = await api<NodeLite>('/api/v1/nodes/sim-h100-001');
      const g = n.gpus.find((x) => x.index === 2);
      return g && g.health?.verdict === 'unhealthy' && ['UNHEALTHY', 'CORDONED'].includes(g.state) && n;
    });
    // The node's other GPUs keep working.
    expect(node.gpus.filter((g) => g.index !== 2).every((g) => g.state === 'READY')).toBe(true);
  }, 60_000);

  it('refuses bad injections with a clear error', async () => {
    const cases: [string[], number, RegExp][] = [
      [['sim', 'inject', 'sim-h100-001', 'xid', '--data-dir', './fleet'], 2, /xid needs an XID code/],
      [['sim', 'inject', 'sim-h100-001', 'bogus', '--data-dir', './fleet'], 2, /'bogus' is not a fault: one of xid, sxid/],
      [['sim', 'inject', 'sim-h100-001', 'xid', 'x9', '--data-dir', './fleet'], 2, /XID code 'x9' is not a number/],
      [['sim', 'inject', 'sim-h100-001', 'xid', '79', '--gpu', '99', '--data-dir', './fleet'], 2, /--gpu/],
      [['sim', 'inject', 'sim-h100-001', 'xid', '79', '--gpu', '7', '--data-dir', './fleet', '--message', 'x'.repeat(3000)], 2, /message/],
      [['sim', 'inject', 'sim-nope-001', 'xid', '79', '--data-dir', './fleet'], 1, /no simulated host 'sim-nope-001'/],
      [['sim', 'inject', 'sim-h100-001', 'thermal', '95', '--data-dir', './nowhere'], 1, /no running demo with simulated hosts uses .*nowhere/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await cli(argv);
      expect(r.code, argv.join(' ')).toBe(code);
      expect(r.stderr, argv.join(' ')).toMatch(message);
    }
  });
});

describe('gpufleet demo, its control file', () => {
  it('keeps the control endpoint (loopback) and its token in a 0600 file', async () => {
    const file = join(dataDir, 'sim-control.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { url: string; token: string };
    expect(doc.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const anonymous = await fetch(`${doc.url}/v1/hosts`);
    expect(anonymous.status).toBe(401);
    const hosts = await fetch(`${doc.url}/v1/hosts`, { headers: { authorization: `Bearer ${doc.token}` } });
    expect(((await hosts.json()) as { hosts: unknown[] }).hosts).toHaveLength(3);
  });

  it('`keys did` reads the demo key by its path', async () => {
    const r = await cli(['keys', 'did', './fleet/demo-operator.key']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe((await api<{ roots: string[] }>('/api/v1/roots')).roots[0]);
    const missing = await cli(['keys', 'did', './fleet/nope.key']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: no key file .*fleet\/nope\.key$/m);
  });
});
