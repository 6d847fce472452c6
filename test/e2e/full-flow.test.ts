import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_FILE } from '@gpufleet/agent';
import { startTestServer } from '../../packages/server/src/testing/test-server.js';
import { Cleanups } from './support/cleanups.js';
import { duplicates, E2eHost } from './support/e2e-host.js';
import { promSamples } from './support/prometheus-text.js';
import { waitFor } from './support/wait-for.js';

// Short server intervals so the whole lifecycle runs in seconds (flags a real operator could set).
const HEARTBEAT_MS = 200;
const OFFLINE_AFTER = 3;
const FLAGS = { heartbeatInterval: `${HEARTBEAT_MS}ms`, offlineAfter: OFFLINE_AFTER, metricsInterval: '500ms' };

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe('e2e: join, report, go OFFLINE, come back (real server, real agent, real sockets)', () => {
  it('a host joined with an API-made token is READY with its GPUs and labels, reports metrics, and survives an agent restart', async () => {
    const t = await startTestServer(FLAGS);
    cleanups.add('server', () => t.close());

    const created = await t.api('POST', '/api/v1/join-tokens', { description: 'e2e full flow', labels: { team: 'e2e' }, reusable: false });
    expect(created.status, created.text).toBe(201);
    expect(created.body.token).toMatch(/^gfj1\./);

    const host = new E2eHost({ token: created.body.token, hostname: 'e2e-full-01', model: 'H100' });
    cleanups.add('host', () => host.dispose());
    const joined = await host.join();
    expect(joined.keyCreated).toBe(true);
    expect(joined.status).toBe('READY');
    // The node key is private to the agent (0600), as the real `gpufleet-agent join` leaves it.
    expect(statSync(join(host.dataDir, KEY_FILE)).mode & 0o777).toBe(0o600);
    const agent = await host.start();

    const ref = encodeURIComponent(host.nodeId);
    const node = await waitFor('node READY with a live session', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${ref}`);
      return r.status === 200 && r.body.status === 'READY' && r.body.connected ? r.body : null;
    });
    const uuids = (await host.backend.gpus()).snapshots.map((g) => g.uuid).sort();
    expect(uuids).toHaveLength(8);
    expect(node.hostname).toBe('e2e-full-01');
    expect(node.gpus.map((g: { uuid: string }) => g.uuid).sort()).toEqual(uuids);
    expect(node.labels).toMatchObject({ hostname: 'e2e-full-01', 'gpu.count': '8', 'gpu.vendor': 'nvidia', 'gpu.model': 'H100', team: 'e2e' });
    // The welcome told the agent the server's sampling interval.
    expect(agent.metricsIntervalMs).toBe(500);

    // Metrics: the node's series API has points for every GPU...
    const series = await waitFor('two metrics samples for every GPU', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${ref}/metrics?names=gpu_util_pct`);
      const s = (r.body?.series ?? []) as Array<{ gpu: string; points: Array<[number, number | null]> }>;
      return s.length === 8 && s.every((x) => x.points.filter((p) => p[1] !== null).length >= 2) ? s : null;
    });
    expect(series.map((s) => s.gpu).sort()).toEqual(uuids);
    // ...and /metrics has dcgm-exporter's GPU_UTIL for each of them, labelled with this host.
    const prom = await t.api('GET', '/metrics');
    expect(prom.status).toBe(200);
    const util = promSamples(prom.text, 'DCGM_FI_DEV_GPU_UTIL').filter((s) => s.labels.Hostname === 'e2e-full-01');
    expect(util.map((s) => s.labels.UUID).sort()).toEqual(uuids);
    for (const s of util) {
      expect(s.value).toBeGreaterThanOrEqual(0);
      expect(s.value).toBeLessThanOrEqual(100);
    }

    // An event through the outbox arrives once and is acknowledged (the outbox empties).
    const eventId = host.enqueue('full-flow-1');
    await waitFor('outbox acknowledged', () => host.settled);
    const stored = async () => (await t.server.context.store.listAgentEvents({ nodeId: host.nodeId, limit: 1000 })).map((e) => e.id);
    expect((await stored()).filter((id) => id === eventId)).toHaveLength(1);

    // Stopping the agent: OFFLINE within offlineAfter x heartbeat (+ the sweep tick and slack).
    const stoppedAt = performance.now();
    expect((await host.running.stop()).code).toBe(0);
    await waitFor('node OFFLINE', async () => (await t.api('GET', `/api/v1/nodes/${ref}`)).body?.status === 'OFFLINE', { timeoutMs: 5000, intervalMs: 20 });
    const offlineAfterMs = performance.now() - stoppedAt;
    expect(offlineAfterMs).toBeLessThan(OFFLINE_AFTER * HEARTBEAT_MS + HEARTBEAT_MS + 1500);

    // A new agent process on the same data dir: READY again, fresh metrics, nothing resent twice.
    const restartedAt = Date.now();
    await host.start();
    await waitFor('node READY again', async () => (await t.api('GET', `/api/v1/nodes/${ref}`)).body?.status === 'READY');
    await waitFor('a metrics sample newer than the restart', () => (t.server.context.metrics.latest(host.nodeId)?.ts ?? 0) > restartedAt);
    await waitFor('second session settled', () => host.settled);
    const ids = await stored();
    expect(ids.filter((id) => id === eventId)).toHaveLength(1);
    expect(duplicates(ids)).toEqual([]);
    // One agent-started event per agent process, each stored once.
    const kinds = (await t.server.context.store.listAgentEvents({ nodeId: host.nodeId, kind: 'agent-started' })).length;
    expect(kinds).toBe(2);
    // Still one node: the restart reused the key, it did not enroll again.
    expect(t.server.context.registry.size).toBe(1);
  });
});
