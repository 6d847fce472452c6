import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimGpuModel } from '@gpufleet/sim';
import { openStore } from '../../packages/server/src/store/open-store.js';
import { assertBuilt, ChildServer } from './support/child-server.js';
import { Cleanups } from './support/cleanups.js';
import { duplicates, E2eHost } from './support/e2e-host.js';
import { freePort } from './support/free-port.js';
import { apiClient, type ApiCall } from './support/http-json.js';
import { promSamples } from './support/prometheus-text.js';
import { sleep, waitFor } from './support/wait-for.js';

/*
 * The control plane as its own process (the built `gpufleet server`, SQLite in a data dir) is
 * SIGKILLed with 5 agents connected, stays down while every agent enqueues events, and comes
 * back on the same port and data dir. The agents must reconnect by themselves and the server
 * must end with the same 5 nodes and every event exactly once. Killing it right after the
 * pre-crash events are acknowledged also exercises a stale stored ackedSeq (it is written
 * lazily, every 5 s), which the gateway must resync from without refusing anything.
 */
const MODELS: SimGpuModel[] = ['H100', 'A100', 'L40S', 'MI300X', 'H100'];
const FLAGS = ['--heartbeat-interval', '200ms', '--offline-after', '3', '--metrics-interval', '500ms'];

const cleanups = new Cleanups();
let dataDir: string;
let server: ChildServer;
let api: ApiCall;

beforeAll(async () => {
  assertBuilt();
  dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-restart-'));
  cleanups.add('data dir', () => rmSync(dataDir, { recursive: true, force: true }));
  server = new ChildServer({ port: await freePort(), dataDir, flags: FLAGS });
  cleanups.add('child server', () => server.kill('SIGKILL'));
  await server.start();
  // The first start left the admin token 0600 in the data dir, as the local CLI expects.
  api = apiClient(server.url, readFileSync(join(dataDir, 'admin-token'), 'utf8').trim());
});
afterAll(() => cleanups.run());

async function nodeStatuses(): Promise<Map<string, string>> {
  const r = await api('GET', '/api/v1/nodes');
  if (r.status !== 200) throw new Error(`GET /api/v1/nodes: ${r.status} ${r.text}`);
  return new Map((r.body.items as Array<{ id: string; status: string }>).map((n) => [n.id, n.status]));
}

describe('e2e: the server SIGKILLed and restarted under 5 connected agents', () => {
  it('agents reconnect by themselves; no node lost, every event stored exactly once, no protocol violations', async () => {
    const created = await api('POST', '/api/v1/join-tokens', { description: 'restart e2e', reusable: true });
    expect(created.status, created.text).toBe(201);
    const hosts: E2eHost[] = [];
    for (const [i, model] of MODELS.entries()) {
      const host = await E2eHost.joinAndStart({ token: created.body.token, hostname: `e2e-restart-${i + 1}`, model });
      cleanups.add(`host ${i + 1}`, () => host.dispose());
      hosts.push(host);
    }
    const ids = hosts.map((h) => h.nodeId).sort();
    await waitFor('5 nodes READY', async () => {
      const s = await nodeStatuses();
      return s.size === 5 && [...s.values()].every((v) => v === 'READY');
    });
    // Events acknowledged before the crash.
    for (const h of hosts) {
      h.enqueue('before-1');
      h.enqueue('before-2');
    }
    await waitFor('every outbox acknowledged before the crash', () => hosts.every((h) => h.settled));

    // --- crash ---
    const killedAt = Date.now();
    const killed = await server.kill('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    await waitFor('every agent noticed', () => hosts.every((h) => h.running.linkState !== 'live'), { timeoutMs: 5000 });
    for (const h of hosts) for (let k = 1; k <= 3; k++) h.enqueue(`down-${k}`);
    for (const h of hosts) expect(h.running.outbox.size).toBe(3);
    // Long enough for several failed redials each (the backoff cap is 500 ms).
    await sleep(1000);
    const dialsWhileDown = hosts.map((h) => h.running.linkStats!.dials);

    // --- restart on the same port and data dir ---
    const restartedAt = Date.now();
    await server.start();
    await waitFor(
      'all 5 agents reconnected, READY and acknowledged',
      async () => {
        const s = await nodeStatuses();
        return hosts.every((h) => h.settled && s.get(h.nodeId) === 'READY');
      },
      { timeoutMs: 15_000 },
    );

    // No node lost, none added.
    const after = await nodeStatuses();
    expect([...after.keys()].sort()).toEqual(ids);
    for (const [i, h] of hosts.entries()) {
      expect(h.running.linkStats!.welcomes, `${h.nodeId} reconnected`).toBeGreaterThanOrEqual(2);
      expect(h.running.linkStats!.dials).toBeGreaterThanOrEqual(dialsWhileDown[i]!);
      // No error frame from either server run: the resumed seqs were all accepted.
      expect(h.running.linkStats!.serverErrors).toBe(0);
    }
    // Samples taken while the server was down waited in the agents' rings and reached the new process.
    for (const h of hosts) {
      const r = await api('GET', `/api/v1/nodes/${encodeURIComponent(h.nodeId)}/metrics?names=cpu_pct&since=${killedAt}`);
      const points = (r.body.series[0]?.points ?? []) as Array<[number, number | null]>;
      expect(points.filter(([ts]) => ts > killedAt && ts < restartedAt).length, `${h.nodeId}: downtime samples`).toBeGreaterThanOrEqual(1);
    }
    const prom = await api('GET', '/metrics');
    expect(prom.status).toBe(200);
    const refused = promSamples(prom.text, 'gpufleet_frames_refused_total').filter((s) => s.value > 0);
    expect(refused, 'refused frames after the restart').toEqual([]);
    // The restarted server did take outbox items (so the empty refusal list means something).
    expect(promSamples(prom.text, 'gpufleet_frames_total').find((s) => s.labels.type === 'event')?.value ?? 0).toBeGreaterThanOrEqual(15);

    // A clean stop, then the store read directly: every event exactly once, by id.
    const stopped = await server.stop();
    expect(stopped.code).toBe(0);
    const store = await openStore({ database: null, dataDir });
    try {
      // A no-op when dist and sources agree (npm test builds first); lines the schema up when they do not.
      await store.migrate();
      for (const h of hosts) {
        const events = await store.listAgentEvents({ nodeId: h.nodeId, limit: 1000 });
        const stored = events.map((e) => e.id);
        expect(h.enqueued).toHaveLength(5);
        expect(
          h.enqueued.filter((id) => stored.filter((x) => x === id).length !== 1),
          `${h.nodeId}: events not stored exactly once`,
        ).toEqual([]);
        expect(duplicates(stored)).toEqual([]);
        // Applied in the order they were enqueued (seq order = enqueue order, across the crash).
        const bySeq = [...events].sort((x, y) => x.seq - y.seq).map((e) => e.id);
        expect(bySeq.filter((id) => h.enqueued.includes(id))).toEqual(h.enqueued);
        // Everything this agent put in its outbox as an event is there (its agent-started included).
        expect(events).toHaveLength(h.running.stats.eventsEnqueued);
      }
    } finally {
      await store.close();
    }
  }, 60_000);
});
