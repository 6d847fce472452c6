import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimFleet } from '@gpufleet/sim';
import { startTestServer } from '../../packages/server/src/testing/test-server.js';
import { Cleanups } from './support/cleanups.js';
import { FAST_BACKOFF } from './support/e2e-host.js';
import { waitFor } from './support/wait-for.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface NodeBody {
  id: string;
  gpus: Array<{ uuid: string; pciBusId: string; health: { verdict: string }; state: string }>;
  health: { verdict: string; findings: Array<{ gpu: string | null; rule: string; verdict: string }> };
}

describe('e2e: kernel Xids on no known GPU (real server, simulated host with the real agent and kernel watcher)', () => {
  it('a redacted Xid line and one on an address with no GPU become node-level findings; no phantom GPU appears', async () => {
    const t = await startTestServer({ heartbeatInterval: '200ms', metricsInterval: '500ms' });
    cleanups.add('server', () => t.close());
    const created = await t.api('POST', '/api/v1/join-tokens', { description: 'e2e unknown gpu', reusable: true });
    expect(created.status, created.text).toBe(201);
    const logDir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-kmsg-'));
    cleanups.add('log dir', () => rmSync(logDir, { recursive: true, force: true }));
    const fleet = await startSimFleet({
      token: created.body.token,
      count: 1,
      seed: 'e2e-unknown-gpu',
      mix: { H100: 1 },
      agentVersion: '0.1.0-e2e',
      startSpreadMs: 0,
      kernelLog: { dir: logDir, pollMs: 50 },
      agentOptions: { backoff: FAST_BACKOFF },
    });
    cleanups.add('fleet', () => fleet.stop());
    await fleet.started;
    const host = fleet.agents[0]!;
    const ref = encodeURIComponent(host.nodeId);
    const before = await waitFor('node READY and connected', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${ref}`);
      return r.status === 200 && r.body.connected && r.body.gpus.length > 0 ? (r.body as NodeBody) : null;
    });
    const known = new Set(before.gpus.map((g) => g.pciBusId));
    expect(known.has('0000:c1:00.0')).toBe(false);

    // A log shipped through a redacting pipeline, then an Xid on an address where this host has no GPU.
    appendFileSync(host.kernelLogPath!, "NVRM: Xid (PCI:...): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n");
    appendFileSync(host.kernelLogPath!, 'NVRM: Xid (PCI:0000:c1:00): 48, pid=1, name=python, An uncorrectable double bit error (DBE) has been detected\n');

    // Both lines reach the server as xid events (the second under the same policy rule as the first).
    await waitFor(
      'both xid events stored',
      async () => {
        const r = await t.api('GET', `/api/v1/events?node=${ref}&kind=xid`);
        return ((r.body?.items ?? []) as unknown[]).length >= 2 ? true : null;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const after = await waitFor('the node-level finding', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${ref}`);
      const b = r.body as NodeBody;
      return b.health.findings.length >= 1 ? b : null;
    });
    expect(after.health.verdict).toBe('unhealthy');
    expect(after.health.findings.map((f) => f.gpu)).toEqual(after.health.findings.map(() => null));
    // The node view lists the same GPUs as before, none of them blamed, and no GPU for 0000:c1:00.0.
    expect(after.gpus.map((g) => g.uuid).sort()).toEqual(before.gpus.map((g) => g.uuid).sort());
    expect(after.gpus.filter((g) => g.health.verdict === 'unhealthy' || g.state !== 'READY')).toEqual([]);
    // The stored events say what they are about.
    const events = await t.api('GET', `/api/v1/events?node=${ref}&kind=xid`);
    expect(events.status, events.text).toBe(200);
    const messages = (events.body.items as Array<{ message: string; gpu: string | null }>).map((e) => [e.gpu, e.message]);
    expect(messages).toEqual(
      expect.arrayContaining([
        [null, expect.stringMatching(/^Xid 79 .* on an unknown GPU \(no PCI address in the line\)/)],
        [expect.anything(), expect.stringMatching(/on 0000:c1:00\.0 \(no GPU known at that address\)/)],
      ]),
    );
  }, 60_000);
});
