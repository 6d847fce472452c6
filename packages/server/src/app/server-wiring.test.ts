import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, signCommand, type Ed25519KeyPair, type GpuInfo } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';
import { testGpu, testGpuSample, testHostFacts } from '../testing/fake-host.js';

/**
 * The features the hand-wired composition root dropped, on a real control plane with agents
 * speaking the protocol over WebSocket: drains that wait for runs, the policy's `alert`
 * action, the last XID on /metrics, run output stored once, a run submit audited once.
 */
const POLICY = `
version: 1
rules:
  - name: xid-fatal-paged
    description: a fatal XID pages someone
    match: {kind: xid, codes: [79]}
    verdict: unhealthy
    scope: gpu
    actions: [cordon-gpu, alert]
    recover: never
  - name: xid-13-quiet
    description: an application fault is recorded, no page
    match: {kind: xid, codes: [13]}
    verdict: degraded
    scope: gpu
    actions: []
    recover: never
`;

let t: TestServer;
let dir: string;
let hook: Server;
const notices: Array<{ status: string; alert: { rule: string; gpuKey?: string | null } }> = [];
const operator = generateEd25519();
const clients: ProtocolClient[] = [];

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      notices.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const port = (hook.address() as { port: number }).port;
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-wiring-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(
    join(dir, 'alerts.yaml'),
    `rules: []\nreceivers:\n  - {name: hook, type: webhook, url: "http://127.0.0.1:${port}/hook"}\ndefaultReceivers: [hook]\n`,
  );
  t = await startTestServer({ healthPolicy: join(dir, 'policy.yaml'), alertRules: join(dir, 'alerts.yaml') });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await t?.close();
  await new Promise((r) => hook?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Enrolls a node with two GPUs, connects it and sends its inventory (seq 1). */
async function agent(hostname: string, gpus: GpuInfo[] = [testGpu(0), testGpu(1)]): Promise<{ c: ProtocolClient; key: Ed25519KeyPair; seq: number }> {
  const key = await enrollTestNode(t, hostname);
  const c = await ProtocolClient.connect(t.url);
  clients.push(c);
  expect((await c.hello(key)).t).toBe('welcome');
  c.send({ t: 'inventory', seq: 1, body: { host: testHostFacts(hostname), gpus, toolFailures: [] } });
  await c.next((f) => f.t === 'ack' && f.body.seq === 1);
  return { c, key, seq: 2 };
}

/** Sends outbox events and waits for the ack of the last; returns the next seq. */
async function send(c: ProtocolClient, seq: number, items: Array<{ kind: string; data: Record<string, unknown>; pciBusId?: string }>): Promise<number> {
  for (const it of items) {
    c.send({
      t: 'event',
      seq,
      body: {
        id: `ev-${seq}-${randomBytes(4).toString('hex')}`,
        ts: Date.now(),
        kind: it.kind,
        gpuUuid: null,
        pciBusId: it.pciBusId ?? null,
        message: it.kind,
        data: it.data,
      },
    });
    seq++;
  }
  await c.next((f) => f.t === 'ack' && f.body.seq === seq - 1);
  return seq;
}

function command(target: string) {
  return signCommand(
    {
      v: 1,
      runId: `run-${randomBytes(6).toString('hex')}`,
      nonce: randomBytes(16).toString('hex'),
      issuedAt: Date.now(),
      ability: 'exec/run',
      target,
      command: { kind: 'argv', argv: ['sleep', '1'] },
      env: {},
      cwd: null,
      timeoutMs: 60_000,
      runAs: null,
      invoker: operator.did,
      capability: null,
    },
    operator.privateKeyPem,
  );
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const xidLine = (code: number) => `NVRM: Xid (PCI:0000:18:00): ${code}, pid='<unknown>', name=<unknown>, test`;
const result = { exitCode: 0, signal: null, timedOut: false, canceled: false, durationMs: 1200, outputBytes: 6, truncated: false };

describe('the service graph wires what the hand-written root dropped', () => {
  it('a drain waits for the run in flight on the node: DRAINING until it ends, then DRAINED', async () => {
    const { c } = await agent('wire-drain');
    const cmd = command('hostname=wire-drain');
    expect((await t.api('POST', '/api/v1/runs', { command: cmd })).status).toBe(201);
    await c.next((f) => f.t === 'command');
    let seq = await send(c, 2, [{ kind: 'run-started', data: { runId: cmd.payload.runId, pid: 7 } }]);
    const drained = await t.api('POST', '/api/v1/nodes/wire-drain/drain', { reason: 'kernel upgrade' });
    expect(drained.body.status).toBe('DRAINING');
    // Longer than the deadline check's tick: still draining while the run goes on.
    await new Promise((r) => setTimeout(r, 1300));
    expect((await t.api('GET', '/api/v1/nodes/wire-drain')).body.status).toBe('DRAINING');
    seq = await send(c, seq, [{ kind: 'run-result', data: { runId: cmd.payload.runId, ...result } }]);
    const after = await until(
      () => t.api('GET', '/api/v1/nodes/wire-drain'),
      (r) => r.body.status !== 'DRAINING',
    );
    expect(after.body.status).toBe('DRAINED');
    expect(after.body.statusChange).toMatchObject({ reason: 'kernel upgrade' });
  });

  it('a policy rule with the alert action fires an alert instance and a notification, resolved when the finding is cleared', async () => {
    const { c } = await agent('wire-alert');
    let seq = await send(c, 2, [{ kind: 'xid', pciBusId: testGpu(1).pciBusId!, data: { code: 79, line: xidLine(79) } }]);
    const firing = await until(
      () => t.api('GET', '/api/v1/alerts?node=wire-alert'),
      (r) => r.body.items.length > 0,
    );
    expect(firing.body.items).toHaveLength(1);
    expect(firing.body.items[0]).toMatchObject({
      rule: 'xid-fatal-paged',
      state: 'firing',
      severity: 'critical',
      hostname: 'wire-alert',
      gpu: testGpu(1).uuid,
      gpuIndex: 1,
    });
    await until(
      async () => notices.length,
      (n) => n > 0,
    );
    expect(notices.find((n) => n.status === 'firing')?.alert).toMatchObject({ rule: 'xid-fatal-paged' });
    // A rule without the action records its verdict and pages nobody.
    seq = await send(c, seq, [{ kind: 'xid', pciBusId: testGpu(0).pciBusId!, data: { code: 13, line: xidLine(13) } }]);
    const node = await until(
      () => t.api('GET', '/api/v1/nodes/wire-alert'),
      (r) => r.body.gpus[0].health.verdict === 'degraded',
    );
    expect(node.body.gpus[0].health.rule).toBe('xid-13-quiet');
    expect((await t.api('GET', '/api/v1/alerts?node=wire-alert')).body.items.map((a: { rule: string }) => a.rule)).toEqual(['xid-fatal-paged']);

    expect((await t.api('POST', '/api/v1/nodes/wire-alert/health/clear', { gpu: '1', reason: 'GPU reset' })).status).toBe(200);
    const resolved = await until(
      () => t.api('GET', '/api/v1/alerts?node=wire-alert'),
      (r) => r.body.items[0]?.state === 'resolved',
    );
    expect(resolved.body.items[0]).toMatchObject({ rule: 'xid-fatal-paged', state: 'resolved' });
    await until(
      async () => notices.filter((n) => n.status === 'resolved').length,
      (n) => n > 0,
    );
    expect(notices.map((n) => `${n.status}:${n.alert.rule}`)).toEqual(['firing:xid-fatal-paged', 'resolved:xid-fatal-paged']);
  });

  it('after an XID 79, /metrics shows DCGM_FI_DEV_XID_ERRORS 79 for that GPU and 0 for the other', async () => {
    // GPUs of their own: UUIDs are the series' identity, and the other tests' nodes share testGpu's.
    const gpus = [0, 1].map((i) => ({ ...testGpu(i), uuid: `GPU-71d00000-0000-0000-0000-00000000000${i}` }));
    const { c } = await agent('wire-xid', gpus);
    const sample = (i: number) =>
      testGpuSample(gpus[i]!, {
        temperatureC: 40,
        utilizationPct: 10,
        memoryUtilizationPct: 1,
        memoryUsedBytes: 1,
        memoryTotalBytes: 2,
        powerDrawW: 100,
        smClockMhz: 1,
        memClockMhz: 1,
      });
    c.send({
      t: 'metrics',
      body: {
        ts: Date.now(),
        host: { cpuPct: 1, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] },
        gpus: [sample(0), sample(1)],
      },
    });
    // The kernel line names the GPU by PCI bus id only; the series is keyed by its UUID.
    await send(c, 2, [{ kind: 'xid', pciBusId: gpus[1]!.pciBusId!, data: { code: 79, line: xidLine(79) } }]);
    const prom = await until(
      () => t.api('GET', '/metrics'),
      (r) => r.text.includes('Hostname="wire-xid"'),
    );
    const xid = prom.text.split('\n').filter((l) => l.startsWith('DCGM_FI_DEV_XID_ERRORS{') && l.includes('Hostname="wire-xid"'));
    expect(xid).toHaveLength(2);
    expect(xid.find((l) => l.includes(`UUID="${gpus[1]!.uuid}"`))).toMatch(/ 79$/);
    expect(xid.find((l) => l.includes(`UUID="${gpus[0]!.uuid}"`))).toMatch(/ 0$/);
  });

  it("a run's output is stored once (run_output, not agent_events), still served and replayed", async () => {
    const { c } = await agent('wire-output');
    const cmd = command('hostname=wire-output');
    expect((await t.api('POST', '/api/v1/runs', { command: cmd })).status).toBe(201);
    await c.next((f) => f.t === 'command');
    const runId = cmd.payload.runId;
    await send(c, 2, [
      { kind: 'run-started', data: { runId, pid: 9 } },
      { kind: 'run-output', data: { runId, stream: 'stdout', chunk: 0, data: 'hello\n' } },
      { kind: 'run-result', data: { runId, ...result } },
    ]);
    const store = t.server.context.store;
    const output = await store.listRunOutput({ runId, limit: 100 });
    expect(output.map((o) => o.data)).toEqual(['hello\n']);
    const nodeId = t.server.context.registry.resolve('wire-output').id;
    const events = await store.listAgentEvents({ nodeId, limit: 100 });
    expect(events.filter((e) => e.kind === 'run-output')).toEqual([]);
    expect(events.map((e) => e.kind).sort()).toEqual(['run-result', 'run-started']);
    expect((await t.api('GET', `/api/v1/runs/${runId}/output`)).body.items.map((o: { data: string }) => o.data)).toEqual(['hello\n']);
  });

  it('one run submit gives exactly one audit record', async () => {
    await agent('wire-audit');
    const cmd = command('hostname=wire-audit');
    expect((await t.api('POST', '/api/v1/runs', { command: cmd })).status).toBe(201);
    // The hook writes after replying.
    const audit = await until(
      () => t.api('GET', '/api/v1/audit?limit=1000'),
      (r) => r.body.items.some((a: { target: string | null }) => a.target === cmd.payload.runId),
    );
    const mine = audit.body.items.filter((a: { target: string | null; action: string }) => a.target === cmd.payload.runId || a.action === 'POST /api/v1/runs');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ action: 'run.submit', result: 'ok', details: { invoker: operator.did, status: 201 } });
  });

  it('boots as a graph and stops in reverse, each service once', async () => {
    const order = t.server.graph.plan();
    expect(order.indexOf('store')).toBeLessThan(order.indexOf('registry'));
    expect(order.indexOf('runs')).toBeLessThan(order.indexOf('node-drains'));
    expect(order.indexOf('alerts')).toBeLessThan(order.indexOf('health'));
    expect(order.indexOf('health')).toBeLessThan(order.indexOf('node-views'));
    expect(order.at(-1)).toBe('http-listener');
    // The timers are services too, agent_events retention among them.
    for (const timer of ['offline-sweep', 'last-seen-flush', 'metrics-prune', 'health-tick', 'event-retention']) expect(order).toContain(timer);
    expect(new Set(order).size).toBe(order.length);
    expect(t.server.state()).toBe('running');
  });
});

describe('policy alerts across a restart', () => {
  it('a finding read back after a restart fires its alert again, and can still resolve', async () => {
    const data = mkdtempSync(join(tmpdir(), 'gpufleet-restart-'));
    const flags = { healthPolicy: join(dir, 'policy.yaml'), alertRules: join(dir, 'alerts.yaml') };
    try {
      const first = await startTestServer(flags, { dataDir: data });
      try {
        const key = await enrollTestNode(first, 'wire-restart');
        const c = await ProtocolClient.connect(first.url);
        expect((await c.hello(key)).t).toBe('welcome');
        c.send({ t: 'inventory', seq: 1, body: { host: testHostFacts('wire-restart'), gpus: [testGpu(0), testGpu(1)], toolFailures: [] } });
        await send(c, 2, [{ kind: 'xid', pciBusId: testGpu(1).pciBusId!, data: { code: 79, line: xidLine(79) } }]);
        await until(
          () => first.api('GET', '/api/v1/alerts?node=wire-restart'),
          (r) => r.body.items.length > 0,
        );
        c.close();
      } finally {
        await first.close();
      }
      const second = await startTestServer(flags, { dataDir: data });
      try {
        const after = await second.api('GET', '/api/v1/alerts?node=wire-restart');
        expect(after.body.items).toMatchObject([{ rule: 'xid-fatal-paged', state: 'firing', gpu: testGpu(1).uuid }]);
        await second.api('POST', '/api/v1/nodes/wire-restart/health/clear', { reason: 'GPU reset' });
        const resolved = await until(
          () => second.api('GET', '/api/v1/alerts?node=wire-restart'),
          (r) => r.body.items[0]?.state === 'resolved',
        );
        expect(resolved.body.items[0]).toMatchObject({ rule: 'xid-fatal-paged', state: 'resolved' });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
