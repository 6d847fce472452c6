import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, FleetError } from '@gpufleet/protocol';
import { FakeControlPlane, type FakeControlPlaneOptions, type FakeNode } from '../testing/fake-control-plane.js';
import { StubBackend } from '../testing/stub-backend.js';
import { Agent, type AgentOptions } from './agent.js';
import { FileStateStore } from './file-state.js';
import { identityFromSeed, type AgentIdentity } from './identity.js';
import { createJsonLogger } from './logger.js';
import { SIMULATION_INTERVAL_BOUNDS } from './interval-bounds.js';
import { MemoryStateStore, type AgentStateStore } from './state.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function plane(options: FakeControlPlaneOptions = {}): Promise<FakeControlPlane> {
  const cp = new FakeControlPlane({ heartbeatMs: 50, metricsIntervalMs: 40, ...options });
  await cp.start();
  cleanups.push(() => cp.stop());
  return cp;
}

interface Setup {
  agent: Agent;
  node: FakeNode;
  backend: StubBackend;
  identity: AgentIdentity;
  logs: Record<string, unknown>[];
}

function setup(cp: FakeControlPlane, seed: number, extra: Partial<AgentOptions> & { state?: AgentStateStore; backend?: StubBackend } = {}): Setup {
  const identity = identityFromSeed(new Uint8Array(32).fill(seed));
  const node = cp.addNode(identity.did);
  const state = extra.state ?? new MemoryStateStore();
  if (!state.loadConfig()) state.saveConfig({ nodeId: identity.did, serverUrl: cp.url, caPem: null, roots: [], heartbeatMs: 50, labels: {} });
  const backend = extra.backend ?? new StubBackend(2);
  const logs: Record<string, unknown>[] = [];
  const agent = new Agent({
    identity,
    backend,
    agentVersion: '1.2.3',
    random: () => 0.5,
    backoff: { baseMs: 20, capMs: 100 },
    // The fake control plane pushes 40 ms metrics and 50 ms heartbeats to keep these tests quick.
    serverIntervalBounds: SIMULATION_INTERVAL_BOUNDS,
    logger: createJsonLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) }),
    ...extra,
    state,
  });
  cleanups.push(() => agent.stop());
  return { agent, node, backend, identity, logs };
}

describe('Agent', () => {
  it('refuses to start before the host joined, and ends as stopped', async () => {
    const agent = new Agent({ state: new MemoryStateStore(), identity: identityFromSeed(new Uint8Array(32)), backend: new StubBackend(), agentVersion: '1' });
    await expect(agent.start()).rejects.toThrow(/has not joined a fleet yet/);
    expect(agent.lifecycle).toBe('stopped');
    expect((await agent.exited).code).toBe(1);
  });

  it('refuses a node config made for another key', async () => {
    const state = new MemoryStateStore({ nodeId: 'did:key:z6MkOther', serverUrl: 'http://127.0.0.1:1', caPem: null, roots: [], heartbeatMs: 1000, labels: {} });
    const agent = new Agent({ state, identity: identityFromSeed(new Uint8Array(32)), backend: new StubBackend(), agentVersion: '1' });
    const err = await agent.start().catch((e: unknown) => e);
    expect(FleetError.is(err, 'failed_precondition')).toBe(true);
  });

  it('announces itself, sends a fresh inventory on welcome, then metrics on the server-given interval', async () => {
    const cp = await plane();
    const { agent, node, backend } = setup(cp, 1);
    await agent.start();
    expect(agent.lifecycle).toBe('running');
    await cp.waitFor('three metrics', () => node.metrics.length >= 3);
    expect(agent.metricsIntervalMs).toBe(40);
    expect(node.events.map((e) => e.body.kind)).toEqual(['agent-started']);
    expect(node.inventories).toHaveLength(1);
    const inv = node.inventories[0]!.body;
    expect(inv.host.agentVersion).toBe('1.2.3');
    expect(inv.gpus.map((g) => g.uuid)).toEqual(backend.gpuList.map((g) => g.uuid));
    const m = node.metrics.at(-1)!;
    expect(m.gpus.map((g) => g.temperatureC)).toEqual([30, 31]);
    expect(m.host.cpuPct).toBe(12.5);
    // Seq order: the event from start (1), then the welcome inventory (2).
    expect(node.events[0]!.seq).toBe(1);
    expect(node.inventories[0]!.seq).toBe(2);
    expect(cp.violations).toEqual([]);
  });

  it('turns a tool failure and its recovery into events and inventories', async () => {
    const cp = await plane();
    const { agent, node, backend } = setup(cp, 2);
    await agent.start();
    await cp.waitFor('welcome inventory', () => node.inventories.length === 1);
    backend.failures = [{ vendor: 'nvidia', tool: 'nvidia-smi', message: 'Failed to initialize NVML: Driver/library version mismatch', exitCode: 18 }];
    backend.gpuList = [];
    await cp.waitFor('tool-failure event', () => node.events.some((e) => e.body.kind === 'tool-failure'));
    await cp.waitFor('inventory with the failure', () => node.inventories.length === 2);
    const failure = node.events.find((e) => e.body.kind === 'tool-failure')!.body;
    expect(failure.message).toBe('nvidia-smi failed: Failed to initialize NVML: Driver/library version mismatch');
    expect(failure.data).toEqual({ vendor: 'nvidia', tool: 'nvidia-smi', exitCode: 18 });
    expect(node.inventories[1]!.body.toolFailures).toHaveLength(1);
    // The tool's GPUs are unknown, not missing.
    expect(node.events.some((e) => e.body.kind === 'gpu-missing')).toBe(false);

    backend.failures = [];
    backend.gpuList = new StubBackend(2).gpuList;
    await cp.waitFor('tool-recovered event', () => node.events.some((e) => e.body.kind === 'tool-recovered'));
    await cp.waitFor('inventory after recovery', () => node.inventories.length === 3);
    expect(node.inventories[2]!.body.toolFailures).toEqual([]);
    expect(node.inventories[2]!.body.gpus).toHaveLength(2);
    expect(cp.violations).toEqual([]);
  });

  it('reports a GPU present at start that goes missing, and its return', async () => {
    const cp = await plane();
    const { agent, node, backend } = setup(cp, 3, { backend: new StubBackend(4) });
    await agent.start();
    await cp.waitFor('welcome inventory', () => node.inventories.length === 1);
    const lost = backend.gpuList[2]!;
    backend.gpuList = backend.gpuList.filter((g) => g !== lost);
    await cp.waitFor('gpu-missing', () => node.events.some((e) => e.body.kind === 'gpu-missing'));
    const missing = node.events.find((e) => e.body.kind === 'gpu-missing')!.body;
    expect(missing).toMatchObject({ gpuUuid: lost.uuid, pciBusId: lost.pciBusId });
    await cp.waitFor('inventory of 3', () => node.inventories.at(-1)!.body.gpus.length === 3);
    await new Promise((r) => setTimeout(r, 100));
    // Once per disappearance, not once per sampling pass.
    expect(node.events.filter((e) => e.body.kind === 'gpu-missing')).toHaveLength(1);

    backend.gpuList = [...backend.gpuList, lost];
    await cp.waitFor('gpu-returned', () => node.events.some((e) => e.body.kind === 'gpu-returned'));
    expect(node.events.find((e) => e.body.kind === 'gpu-returned')!.body.gpuUuid).toBe(lost.uuid);
    await cp.waitFor('inventory of 4', () => node.inventories.at(-1)!.body.gpus.length === 4);
  });

  it('logs and counts collections that throw or return garbage, and keeps going', async () => {
    const cp = await plane();
    const { agent, node, backend, logs } = setup(cp, 4);
    await agent.start();
    await cp.waitFor('metrics', () => node.metrics.length >= 1);
    backend.throwOnHostSample = new Error('/proc/stat unreadable');
    backend.throwOnGpus = new Error('tool exploded');
    const before = node.metrics.length;
    await cp.waitFor('errors counted', () => agent.stats.collectionErrors >= 4);
    expect(node.metrics.length).toBeLessThanOrEqual(before + 1);
    expect(logs.some((l) => l.msg === 'could not sample the host' && l.err === '/proc/stat unreadable')).toBe(true);
    // A backend answering garbage is refused field by field, never a crash.
    backend.throwOnHostSample = null;
    backend.throwOnGpus = null;
    backend.gpuList = [{ ...backend.gpuList[0]!, temperatureC: 'hot' as unknown as number }, backend.gpuList[1]!];
    await cp.waitFor('metrics again', () => node.metrics.length >= before + 2);
    expect(node.metrics.at(-1)!.gpus.map((g) => g.index)).toEqual([1]);
    expect(agent.lifecycle).toBe('running');
  });

  it('sends the inventory late when host facts were unreadable at first', async () => {
    const cp = await plane();
    const backend = new StubBackend(2);
    backend.throwOnHostFacts = new Error('/etc/os-release missing');
    const { agent, node, logs } = setup(cp, 9, { backend });
    await agent.start();
    await cp.waitFor('welcome', () => node.welcomes === 1);
    // The fake counts the welcome when it sends it: wait until the agent has handled it.
    await cp.waitFor('inventory held back', () => logs.some((l) => l.msg === 'no inventory sent yet: host facts are not readable'));
    expect(node.inventories).toHaveLength(0);
    backend.throwOnHostFacts = null;
    await cp.waitFor('late inventory', () => node.inventories.length === 1);
    expect(node.inventories[0]!.body.host.hostname).toBe('stub-host');
  });

  it('drains on stop: closes with 1000, stops sampling and ends with code 0', async () => {
    const cp = await plane();
    const { agent, node, backend } = setup(cp, 5);
    await agent.start();
    await cp.waitFor('metrics', () => node.metrics.length >= 1);
    const exit = await agent.stop();
    expect(exit).toEqual({ code: 0, reason: null });
    expect(agent.lifecycle).toBe('stopped');
    await cp.waitFor('close', () => cp.closes.length === 1);
    expect(cp.closes[0]!.code).toBe(1000);
    const calls = backend.calls.hostSample;
    await new Promise((r) => setTimeout(r, 120));
    expect(backend.calls.hostSample).toBe(calls);
  });

  it('ends with code 1 when the server removes the node (4403)', async () => {
    const cp = await plane();
    const { agent, identity } = setup(cp, 6);
    await agent.start();
    await cp.waitFor('live', () => agent.linkState === 'live');
    cp.kick(identity.did, CLOSE_CODES.forbidden, 'node removed');
    const exit = await agent.exited;
    expect(exit.code).toBe(1);
    expect(exit.reason).toMatch(/4403/);
    expect(agent.lifecycle).toBe('stopped');
  });

  it('keeps events raised while offline on disk and delivers them after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gf-agent-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cp = await plane();
    const identity = identityFromSeed(new Uint8Array(32).fill(7));
    new FileStateStore(dir).saveConfig({ nodeId: identity.did, serverUrl: 'http://127.0.0.1:9', caPem: null, roots: [], heartbeatMs: 50, labels: {} });
    // First run: the server URL points nowhere, so everything stays in the outbox.
    const offline = new Agent({ state: new FileStateStore(dir), identity, backend: new StubBackend(), agentVersion: '1', backoff: { baseMs: 1000 } });
    await offline.start();
    offline.enqueueEvent({ kind: 'kernel-log', message: 'NVRM: Xid (PCI:0000:18:00): 79, GPU has fallen off the bus.', pciBusId: '0000:18:00.0' });
    await offline.stop();

    const state = new FileStateStore(dir);
    state.saveConfig({ ...state.loadConfig()!, serverUrl: cp.url });
    const node = cp.addNode(identity.did);
    const online = new Agent({ state, identity, backend: new StubBackend(), agentVersion: '1' });
    cleanups.push(() => online.stop());
    await online.start();
    await cp.waitFor('replayed events', () => node.events.length === 3);
    expect(node.events.map((e) => [e.seq, e.body.kind])).toEqual([
      [1, 'agent-started'],
      [2, 'kernel-log'],
      [3, 'agent-started'],
    ]);
    expect(cp.violations).toEqual([]);
  });

  it('renumbers its outbox when the server has acknowledged more than it ever sent', async () => {
    const cp = await plane();
    const { agent, node } = setup(cp, 8);
    node.ackedSeq = 500; // an earlier incarnation of this simulated node
    await agent.start();
    await cp.waitFor('items', () => node.events.length === 1 && node.inventories.length === 1);
    expect(node.events[0]!.seq).toBe(501);
    expect(node.inventories[0]!.seq).toBe(502);
    expect(cp.violations).toEqual([]);
  });

  it('refuses events that do not fit the protocol instead of poisoning the outbox', () => {
    const agent = new Agent({ state: new MemoryStateStore(), identity: identityFromSeed(new Uint8Array(32)), backend: new StubBackend(), agentVersion: '1' });
    expect(agent.enqueueEvent({ kind: 'not-a-kind' as 'kernel-log', message: 'x' })).toBeNull();
    expect(agent.enqueueEvent({ kind: 'kernel-log', message: 'y'.repeat(20_000) })!.body).toMatchObject({ kind: 'kernel-log' });
    expect(agent.outbox.size).toBe(1);
  });
});
