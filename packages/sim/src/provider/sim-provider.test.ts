import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeJoinToken, type SimProviderSpec } from '@gpufleet/protocol';
import { ProviderError, type ProviderContext, type ProvisionRequest } from '@gpufleet/server';
import { startTestServer, type TestServer } from '../../../server/src/testing/test-server.js';
import { FaultInjector } from '../faults/fault-injector.js';
import { kernelTimePrefix, xidText } from '../faults/kernel-lines.js';
import { makeSimProviderFactory, type SimProvider } from './sim-provider.js';
import { SimProviderHosts } from './sim-provider-hosts.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SPEC: SimProviderSpec = {
  type: 'sim',
  instanceTypes: { 'sim.a100x2': { gpuModel: 'A100', gpus: 2, pricePerHour: 3.5 }, 'sim.odd': { gpuModel: 'V100', gpus: 4, pricePerHour: 1 } },
  bootMs: 50,
  failRate: 0,
  seed: 'test',
};

function context(name = 'sim'): ProviderContext {
  const state = new Map<string, unknown>();
  return {
    name,
    masterKey: null,
    state: {
      get: async (k) => state.get(k),
      put: async (k, v) => void state.set(k, v),
      delete: async (k) => void state.delete(k),
      list: async () => [...state].map(([key, value]) => ({ key, value })),
    },
    env: {},
    baseDir: process.cwd(),
    clock: { now: () => Date.now() },
    log: { info: () => undefined, warn: () => undefined },
  };
}

function provider(spec: Partial<SimProviderSpec> = {}, hosts = new SimProviderHosts()): SimProvider {
  const p = makeSimProviderFactory({ hosts })({ ...SPEC, ...spec }, context()) as SimProvider;
  cleanups.push(() => p.close());
  return p;
}

async function server(): Promise<TestServer> {
  const t = await startTestServer({ heartbeatInterval: '200ms', offlineAfter: 3, metricsInterval: '250ms' });
  cleanups.push(() => t.close());
  return t;
}

/** What the pool manager mints for one provision: single use, the pool's labels, a short expiry. */
async function poolToken(t: TestServer, pool: string): Promise<string> {
  return (await t.server.createJoinToken({ reusable: false, labels: { pool }, expiresIn: '10m' })).token;
}

function request(op: string, joinToken: string, o: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return { operationId: op, pool: 'train', instanceType: 'sim.a100x2', zone: null, image: null, joinToken, userData: '', labels: { pool: 'train' }, ...o };
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A token that decodes but names no server: for refusals that must happen before any boot.
const UNUSED_TOKEN = encodeJoinToken({ url: 'http://127.0.0.1:9', caFingerprint: null, roots: [], tokenId: 'unused', secret: 'unused' });

describe('sim provider against a real server', () => {
  it('boots a host that enrolls with the single-use token, gets the pool label and the type GPUs, and is reachable for faults', async () => {
    const t = await server();
    const hosts = new SimProviderHosts();
    const p = provider({ bootMs: 300 }, hosts);
    const inst = await p.provision(request('op-1', await poolToken(t, 'train')));
    expect(inst).toMatchObject({ pool: 'train', operationId: 'op-1', instanceType: 'sim.a100x2', state: 'pending', pricePerHour: 3.5 });
    expect(inst.id).toMatch(/^sim-[0-9a-f]{12}$/);
    // Still booting: nothing enrolled yet.
    expect((await t.api('GET', '/api/v1/nodes')).body.items).toHaveLength(0);

    const host = await waitFor('the host registered', async () => hosts.find(inst.id));
    expect(host.hostname).toBe(`train-${inst.id.slice(4)}`);
    expect(hosts.find(host.hostname)).toBe(host);
    const node = await waitFor('the node READY', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.hostname)}`);
      return r.status === 200 && r.body.status === 'READY' && r.body.gpus.length === 2 ? r.body : null;
    });
    expect(node.id).toBe(host.nodeId);
    expect(node.labels).toMatchObject({ pool: 'train', 'gpu.model': 'A100', 'gpu.count': '2' });
    expect((await p.list()).map((i) => [i.id, i.state])).toEqual([[inst.id, 'running']]);

    // With another fleet, faults go to whichever holds the host.
    const asked: string[] = [];
    const other = {
      host: (h: string) => {
        asked.push(h);
        throw new Error(`not in the other fleet: ${h}`);
      },
      crashAgent: async () => undefined,
      restartAgent: async () => undefined,
    };
    const both = hosts.withFleet(other);
    expect(both.host(host.hostname).hostname).toBe(host.hostname);
    expect(() => both.host('sim-h100-001')).toThrow(/not in the other fleet: sim-h100-001/);
    expect(asked).toEqual(['sim-h100-001']);
    expect(both.workloads).toBe(hosts.workloads);
    expect(hosts.simHosts().map((h) => h.hostname)).toEqual([host.hostname]);

    // The fault injector reaches it through the registry: XID 79 takes its GPU 1 out.
    const injector = new FaultInjector({ fleet: hosts, seed: 1 });
    cleanups.push(() => injector.dispose());
    await injector.inject({ inject: 'xid', host: host.hostname, gpu: 1, code: 79 });
    await waitFor('GPU 1 UNHEALTHY', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.hostname)}`);
      return r.body.gpus.find((g: { index: number; state: string }) => g.index === 1)?.state === 'UNHEALTHY';
    });
  });

  it('is idempotent per operation id: asked again, it returns the same instance and starts no second host', async () => {
    const t = await server();
    const hosts = new SimProviderHosts();
    const p = provider({}, hosts);
    const token = await poolToken(t, 'train');
    const a = await p.provision(request('op-same', token));
    const b = await p.provision(request('op-same', token));
    expect(b.id).toBe(a.id);
    await waitFor('the host registered', async () => hosts.find(a.id));
    const c = await p.provision(request('op-same', token));
    expect(c).toMatchObject({ id: a.id, state: 'running' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await p.list()).toHaveLength(1);
    expect(hosts.size).toBe(1);
    expect((await t.api('GET', '/api/v1/nodes')).body.items).toHaveLength(1);
  });

  it('a used token does not enroll a second host: the instance runs but never joins', async () => {
    const t = await server();
    const hosts = new SimProviderHosts();
    const p = provider({}, hosts);
    const token = await poolToken(t, 'train');
    const first = await p.provision(request('op-a', token));
    await waitFor('the first host registered', async () => hosts.find(first.id));
    const second = await p.provision(request('op-b', token));
    await waitFor('the second instance booted', async () => (await p.list()).find((i) => i.id === second.id)?.state === 'running');
    expect(hosts.find(second.id)).toBeUndefined();
    expect((await t.api('GET', '/api/v1/nodes')).body.items).toHaveLength(1);
  });

  it('an unknown instance type is 8 x H100 at the file default price (0); describe lists only the types it knows', async () => {
    const t = await server();
    const hosts = new SimProviderHosts();
    const p = provider({}, hosts);
    const inst = await p.provision(request('op-u', await poolToken(t, 'train'), { instanceType: 'p5.48xlarge', zone: 'z1' }));
    expect(inst).toMatchObject({ pricePerHour: 0, zone: 'z1' });
    const host = await waitFor('the host registered', async () => hosts.find(inst.id));
    const node = await waitFor('the node READY', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.hostname)}`);
      return r.body?.status === 'READY' ? r.body : null;
    });
    expect(node.gpus).toHaveLength(8);
    expect(node.labels['gpu.model']).toBe('H100');
    expect(await p.describe(['sim.a100x2', 'nope'])).toEqual([
      { instanceType: 'sim.a100x2', gpus: 2, gpuModel: 'A100', pricePerHour: 3.5, zonesWithCapacity: null },
    ]);
  });

  it('terminate switches the machine off: the node goes OFFLINE, what ran there is recorded, the instance is forgotten', async () => {
    const t = await server();
    const hosts = new SimProviderHosts();
    const p = provider({}, hosts);
    const inst = await p.provision(request('op-t', await poolToken(t, 'train')));
    const host = await waitFor('the host registered', async () => hosts.find(inst.id));
    await waitFor('READY', async () => (await t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.hostname)}`)).body?.status === 'READY');
    await p.terminate(inst.id);
    expect(await p.list()).toEqual([]);
    expect(hosts.find(inst.id)).toBeUndefined();
    expect(hosts.terminations).toMatchObject([{ instanceId: inst.id, hostname: host.hostname, pool: 'train', running: [] }]);
    await waitFor('OFFLINE', async () => (await t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.hostname)}`)).body?.status === 'OFFLINE');
    // Gone or never known: not an error.
    await p.terminate(inst.id);
    await p.terminate('sim-000000000000');
  });

  it('terminate while an allocation still runs there: it dies with the machine and the termination names it', async () => {
    const t = await server();
    const hosts = new SimProviderHosts();
    const p = provider({}, hosts);
    const inst = await p.provision(request('op-busy', await poolToken(t, 'train')));
    const host = await waitFor('the host registered', async () => hosts.find(inst.id));
    // What the host's agent would start for an allocation, started on its fake executor directly.
    const [container] = hosts.workloads.executorsFor(host.hostname);
    const spec = {
      count: 1,
      executor: 'container',
      image: 'example/web:1',
      env: {},
      resources: { gpus: 1 },
      restart: { attempts: 0, within: 60_000, delay: 0 },
      stop_grace: 1000,
    };
    const running = await container!.start(
      { allocId: 'alloc-busy-1', job: 'web', name: 'web-0', group: 'web', jobVersion: 1, specHash: 'b'.repeat(64), spec: spec as never, gpus: [], env: {} },
      () => undefined,
    );
    await p.terminate(inst.id);
    expect(await running.exited).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(hosts.terminations).toHaveLength(1);
    expect(hosts.terminations[0]!.running.map((a) => `${a.job}/${a.name}`)).toEqual(['web/web-0']);
    expect(hosts.workloads.list(host.hostname)).toEqual([]);
  });

  it('terminate during boot: the host never starts', async () => {
    const t = await server();
    const hosts = new SimProviderHosts();
    const p = provider({ bootMs: 200 }, hosts);
    const inst = await p.provision(request('op-early', await poolToken(t, 'train')));
    await p.terminate(inst.id);
    await new Promise((r) => setTimeout(r, 500));
    expect(hosts.size).toBe(0);
    expect((await t.api('GET', '/api/v1/nodes')).body.items).toHaveLength(0);
  });

  it('with kernelLogDir, a host reads its kernel log from a known file that another writer can append driver lines to; the folder outlives close', async () => {
    const t = await server();
    const dir = mkdtempSync(join(tmpdir(), 'gf-sim-provider-logs-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const hosts = new SimProviderHosts();
    const p = makeSimProviderFactory({ hosts, kernelLogDir: dir, kernelLogPollMs: 50 })(SPEC, context('lab-sim')) as SimProvider;
    cleanups.push(() => p.close());
    const inst = await p.provision(request('op-log', await poolToken(t, 'train')));
    const host = await waitFor('the host registered', async () => hosts.find(inst.id));
    const log = join(dir, 'lab-sim', `${host.hostname}.log`);
    expect(existsSync(log)).toBe(true);
    const node = await waitFor('READY', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.hostname)}`);
      return r.body?.status === 'READY' ? r.body : null;
    });
    const gpu0 = node.gpus.find((g: { index: number }) => g.index === 0);
    appendFileSync(
      log,
      `${kernelTimePrefix({ uptimeMs: 60_000, epochMs: Date.now(), micros: 0 }, 'dmesg')}${xidText({ pciBusId: gpu0.pciBusId, code: 79, pid: null })}\n`,
    );
    await waitFor('GPU 0 UNHEALTHY', async () => {
      const r = await t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.hostname)}`);
      return r.body.gpus.find((g: { index: number; state: string }) => g.index === 0)?.state === 'UNHEALTHY';
    });
    await p.close();
    expect(existsSync(log)).toBe(true);
  });

  it('close switches every host off', async () => {
    const t = await server();
    const hosts = new SimProviderHosts();
    const p = provider({}, hosts);
    const a = await p.provision(request('op-1', await poolToken(t, 'train')));
    const b = await p.provision(request('op-2', await poolToken(t, 'train')));
    await waitFor('both registered', async () => hosts.find(a.id) && hosts.find(b.id));
    await p.close();
    expect(hosts.size).toBe(0);
    expect(hosts.terminations.map((x) => x.instanceId).sort()).toEqual([a.id, b.id].sort());
    await expect(p.provision(request('op-3', UNUSED_TOKEN))).rejects.toMatchObject({ kind: 'transient' });
  });
});

describe('sim provider refusals', () => {
  it('refuses a seeded share of provisions with a capacity error naming the zone, the same ones for the same seed', async () => {
    const refused = async (seed: string) => {
      const p = provider({ failRate: 0.3, seed, bootMs: 600_000 });
      const out: string[] = [];
      for (let i = 0; i < 100; i++) {
        try {
          await p.provision(request(`op-${i}`, UNUSED_TOKEN, { zone: 'zone-a' }));
        } catch (err) {
          expect(err).toBeInstanceOf(ProviderError);
          expect(err).toMatchObject({ kind: 'capacity', details: { zone: 'zone-a' }, retryable: false });
          expect((err as Error).message).toMatch(/no capacity for sim\.a100x2 in zone-a/);
          out.push(`op-${i}`);
        }
      }
      return out;
    };
    const a = await refused('s1');
    expect(a.length).toBeGreaterThan(15);
    expect(a.length).toBeLessThan(45);
    expect(await refused('s1')).toEqual(a);
    expect(await refused('s2')).not.toEqual(a);
  });

  it('a refused operation asked again draws again (a retry can succeed)', async () => {
    const p = provider({ failRate: 0.5, seed: 'retry', bootMs: 600_000 });
    let tries = 0;
    for (;;) {
      tries++;
      try {
        await p.provision(request('op-retry', UNUSED_TOKEN));
        break;
      } catch (err) {
        expect(err).toMatchObject({ kind: 'capacity' });
        if (tries > 30) throw err;
      }
    }
    expect(await p.list()).toHaveLength(1);
  });

  it('failRate 1 refuses everything and 0 nothing', async () => {
    const never = provider({ failRate: 1, bootMs: 600_000 });
    for (let i = 0; i < 5; i++) await expect(never.provision(request(`op-${i}`, UNUSED_TOKEN))).rejects.toMatchObject({ kind: 'capacity' });
    expect(await never.list()).toEqual([]);
    const always = provider({ failRate: 0, bootMs: 600_000 });
    for (let i = 0; i < 5; i++) await always.provision(request(`op-${i}`, UNUSED_TOKEN));
    expect(await always.list()).toHaveLength(5);
  });

  it('garbage: a model the simulator lacks, a join token that is not one, a spec of another type', async () => {
    const p = provider({ bootMs: 600_000 });
    await expect(p.provision(request('op-v', UNUSED_TOKEN, { instanceType: 'sim.odd' }))).rejects.toMatchObject({
      kind: 'invalid',
      message: expect.stringMatching(/GPU model 'V100'.*H100, A100, L40S, MI300X/),
    });
    for (const bad of ['', 'not-a-token', 'gfj1.%%%'])
      await expect(p.provision(request(`op-${bad}`, bad))).rejects.toMatchObject({ kind: 'invalid', message: expect.stringMatching(/join token/) });
    expect(await p.list()).toEqual([]);
    expect(() => makeSimProviderFactory()({ type: 'ssh', hostsFile: 'h.yaml' }, context('lab'))).toThrow(/ssh provider \(lab\)/);
  });
});
