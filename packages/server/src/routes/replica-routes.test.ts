import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicaList } from '@gpufleet/protocol';
import { resolveServerConfig } from '../config/server-config.js';
import { startServer, type RunningServer } from '../server.js';
import { openPostgresStore } from '../store/postgres-store.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode } from '../testing/protocol-client.js';

/**
 * GET /api/v1/replicas and the gpufleet_replica_* series: the embedded server (one replica on
 * the in-process bus), then two replicas as real control planes in this process sharing one
 * PostgreSQL schema and one NATS namespace.
 */

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('replicas: the embedded server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t.close());

  it('lists itself, holding every lease, to any token that may read', async () => {
    const r = await t.api('GET', '/api/v1/replicas');
    expect(r.status, r.text).toBe(200);
    const { replicas } = r.body as ReplicaList;
    expect(replicas).toHaveLength(1);
    expect(replicas[0]).toMatchObject({ self: true, url: t.url, agents: 0, version: expect.any(String) });
    expect([...replicas[0]!.leases].sort()).toEqual(['alerts', 'pools', 'retention', 'scheduler']);
    expect(replicas[0]!.heartbeatAt).toBeGreaterThanOrEqual(replicas[0]!.startedAt);
  });

  it('refuses callers without a token, and answers garbage with clear errors', async () => {
    expect((await t.api('GET', '/api/v1/replicas', undefined, null)).status).toBe(401);
    expect((await t.api('GET', '/api/v1/replicas', undefined, 'gft_garbage')).status).toBe(401);
    const post = await t.api('POST', '/api/v1/replicas', { name: 'x' });
    expect(post.status).toBe(404);
    expect(post.body.error.code).toBe('not_found');
    expect((await t.api('GET', '/api/v1/replicas?limit=zz&%ff=1')).status).toBe(200);
  });

  it('exports the gpufleet_replica_* series and, holding the alerts lease, the alert series', async () => {
    const text = (await t.api('GET', '/metrics')).text;
    expect(text).toMatch(/^gpufleet_replica_info\{replica="[^"]+",instance_id="[0-9a-f-]{36}",version="[^"]+"\} 1$/m);
    expect(text).toMatch(/^gpufleet_replica_peers 1$/m);
    for (const role of ['alerts', 'retention', 'pools', 'scheduler'])
      expect(text).toMatch(new RegExp(`^gpufleet_replica_lease_held\\{role="${role}"\\} 1$`, 'm'));
    expect(text).toMatch(/^gpufleet_replica_frames_relayed_total 0$/m);
    // Alone, no sample is encoded for nobody.
    expect(text).toMatch(/^gpufleet_replica_samples_sent_total 0$/m);
    expect(text).toMatch(/^gpufleet_replica_samples_refused_total\{reason="oversized"\} 0$/m);
    expect(text).toMatch(/^# TYPE gpufleet_alerts gauge$/m);
  });
});

describe('replicas: two control planes on one PostgreSQL and one NATS', () => {
  const PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `gf_replicas_${randomBytes(5).toString('hex')}`;
  const namespace = `t_${randomBytes(5).toString('hex')}`;
  const masterKey = randomBytes(32).toString('base64');
  const dirs: string[] = [];
  const running: RunningServer[] = [];

  async function replica(name: string): Promise<RunningServer> {
    const dataDir = mkdtempSync(join(tmpdir(), `gpufleet-${name}-`));
    dirs.push(dataDir);
    const config = resolveServerConfig({
      flags: {
        listen: '127.0.0.1:0',
        dataDir,
        logLevel: 'silent',
        database: PG_URL,
        bus: 'nats://127.0.0.1:4222',
        busNamespace: namespace,
        replicaName: name,
        heartbeatInterval: '300ms',
      },
    });
    const store = await openPostgresStore({ url: PG_URL, schema });
    const server = await startServer(config, { logger: false, store, masterKey });
    running.push(server);
    return server;
  }

  afterAll(async () => {
    for (const s of running) await s.stop().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    const raw = new pg.Client({ connectionString: PG_URL });
    await raw.connect();
    await raw.query(`drop schema if exists "${schema}" cascade`);
    await raw.end();
  });

  let a: RunningServer;
  let b: RunningServer;
  let token: string;
  const get = async (s: RunningServer, path: string) => {
    const res = await fetch(s.url + path, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    a = await replica('cp-a');
    b = await replica('cp-b');
    // The admin token was made once, by the first replica, in the shared store.
    token = a.adminToken!;
    expect(b.adminToken).toBeNull();
  });

  it('each lists both, itself first, and the leases are held by exactly one of them', async () => {
    const lists = await waitFor('both replicas seeing each other', async () => {
      const both = [await get(a, '/api/v1/replicas'), await get(b, '/api/v1/replicas')];
      return both.every((r) => r.body.replicas?.length === 2) && both;
    });
    expect(lists[0]!.body.replicas.map((r: { name: string }) => r.name)).toEqual(['cp-a', 'cp-b']);
    expect(lists[1]!.body.replicas.map((r: { name: string }) => r.name)).toEqual(['cp-b', 'cp-a']);
    const held = lists[0]!.body.replicas.flatMap((r: { leases: string[] }) => r.leases).sort();
    expect(held).toEqual(['alerts', 'pools', 'retention', 'scheduler']);
  });

  it("a node enrolled through one replica is in the other one's list", async () => {
    const through = { url: a.url, api: (m: string, p: string, body?: unknown) => call(a, m, p, body) } as never;
    const key = await enrollTestNode(through, 'replica-node-1');
    const seen = await waitFor('the node on the other replica', async () => {
      const r = await get(b, `/api/v1/nodes/${encodeURIComponent(key.did)}`);
      return r.status === 200 && r.body;
    });
    expect(seen.hostname).toBe('replica-node-1');
  });

  it('refuses a third replica under a live name, naming the flag', async () => {
    await expect(replica('cp-b')).rejects.toThrow(/replica name 'cp-b' is held by a live replica.*--replica-name/);
  });

  it('the other replica takes the leases at once when one stops', async () => {
    await a.stop();
    running.splice(running.indexOf(a), 1);
    const list = await waitFor('cp-b alone, holding every lease', async () => {
      const r = await get(b, '/api/v1/replicas');
      return r.body.replicas.length === 1 && r.body.replicas[0].leases.length === 4 && r.body.replicas;
    });
    expect(list[0]).toMatchObject({ name: 'cp-b', self: true });
  });

  async function call(s: RunningServer, method: string, path: string, body?: unknown) {
    const res = await fetch(s.url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, text };
  }
});
