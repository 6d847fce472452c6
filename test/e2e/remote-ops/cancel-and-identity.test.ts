import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '@gpufleet/agent';
import { commandDeadline, signCancel, type SignedCommand } from '@gpufleet/protocol';
import { Cleanups } from '../support/cleanups.js';
import { promSamples } from '../support/prometheus-text.js';
import { E2eHost } from '../support/e2e-host.js';
import { sleep, waitFor } from '../support/wait-for.js';
import { markerDir, signed, startRootedServer, submitRun, targetOf, waitRunFinal, type RootedServer } from './support.js';

/**
 * Issue 9, items 4 and 5 end to end: a real server whose fleet root is an operator key, real
 * agents (FileStateStore, real `sh -c`) over real WebSockets. A signed cancel reaches a host that
 * was offline when it was given and the command never runs there, even when delivered anyway; a
 * second host cannot take a live hostname; env values never leave the server for a host outside
 * the command's signed selector.
 */

const HOST_A = 'rops-cx-a';
const HOST_B = 'rops-cx-b';
const cleanups = new Cleanups();
let s: RootedServer;
let markers: string;
let a: E2eHost;
let b: E2eHost;
/** Command frames each host's agent received (its handler is wrapped). */
const received = new Map<string, SignedCommand[]>();

async function startHost(hostname: string, join = true): Promise<E2eHost> {
  const host = new E2eHost({ token: s.joinToken, hostname, gpuCount: 1 });
  cleanups.add(`host ${hostname}`, () => host.dispose());
  if (join) await host.join();
  await restart(host, hostname);
  return host;
}

/** (Re)starts a host's agent and records the command frames it gets from then on. */
async function restart(host: E2eHost, hostname: string): Promise<void> {
  const agent = await host.start();
  const exec = agent.exec!;
  const onCommand = exec.onCommand.bind(exec);
  exec.onCommand = (delivery) => {
    (received.get(hostname) ?? received.set(hostname, []).get(hostname)!).push(delivery.command);
    onCommand(delivery);
  };
}

/** Waits until the host's agent holds a session (or none) on the server: gpufleet_node_connected on /metrics. */
async function connected(hostname: string, want: boolean): Promise<void> {
  await waitFor(`${hostname} ${want ? 'with' : 'without'} a session`, async () => {
    const r = await s.t.api('GET', '/metrics');
    const sample = promSamples(r.text, 'gpufleet_node_connected').find((x) => Object.values(x.labels).includes(hostname));
    return sample !== undefined && sample.value === (want ? 1 : 0);
  });
}

const gotRun = (hostname: string, runId: string) => (received.get(hostname) ?? []).some((c) => c.payload.runId === runId);

beforeAll(async () => {
  s = await startRootedServer(cleanups);
  markers = markerDir(cleanups);
  a = await startHost(HOST_A);
  b = await startHost(HOST_B);
  await connected(HOST_A, true);
  await connected(HOST_B, true);
});
afterAll(() => cleanups.run());

describe('a signed cancel reaches a host that was offline', () => {
  it('the host gets the cancel when it reconnects, and refuses the command even when it is delivered anyway', async () => {
    await b.stop();
    await connected(HOST_B, false);
    const m = join(markers, 'offline-cancel');
    const cmd = signed(s.root, { target: `hostname=${HOST_B}`, marker: m, timeoutMs: 120_000 });
    const runId = await submitRun(s.t, cmd);
    const cancel = signCancel(
      { v: 1, kind: 'cancel', runId, nonce: cmd.payload.nonce, iss: s.root.did, at: Date.now(), until: commandDeadline(cmd.payload) },
      s.root.privateKeyPem,
    );
    const res = await s.t.api('POST', `/api/v1/runs/${runId}/cancel`, { signed: cancel });
    expect(res.status, res.text).toBe(200);
    expect(targetOf(await waitRunFinal(s.t, runId), HOST_B).state).toBe('canceled');

    await restart(b, HOST_B);
    await connected(HOST_B, true);
    // The host keeps the cancel in its own trust log (on disk).
    await waitFor('the cancel in the host trust log', () =>
      new FileStateStore(b.dataDir).loadTrust().some((r) => r.t === 'cancel' && r.cancel.runId === runId),
    );
    expect(gotRun(HOST_B, runId)).toBe(false);

    // A server that lost the cancel (or lies) delivers the command anyway: the host refuses it.
    b.running.exec!.onCommand({ command: cmd, scriptContent: null, scriptSignature: null });
    const control = signed(s.root, { target: `hostname=${HOST_B}`, marker: join(markers, 'offline-control') });
    const controlRun = await submitRun(s.t, control);
    expect(targetOf(await waitRunFinal(s.t, controlRun), HOST_B).state).toBe('succeeded');
    expect(existsSync(join(markers, 'offline-control'))).toBe(true);
    expect(existsSync(m)).toBe(false);
    expect(new FileStateStore(b.dataDir).loadTrust().some((r) => r.t === 'run' && r.runId === runId)).toBe(false);
  });
});

describe('hostnames are unique among live nodes', () => {
  it('a second host claiming a live hostname is refused at join, and the fleet still has one node of that name', async () => {
    const impostor = new E2eHost({ token: s.joinToken, hostname: HOST_A, gpuCount: 1 });
    cleanups.add('impostor', () => impostor.dispose());
    await expect(impostor.join()).rejects.toThrow(new RegExp(`hostname '${HOST_A}' belongs to node`));
    const nodes = (await s.t.api('GET', '/api/v1/nodes?limit=100')).body.items as Array<{ id: string; hostname: string }>;
    expect(nodes.filter((n) => n.hostname === HOST_A).map((n) => n.id)).toEqual([a.nodeId]);
  });
});

describe('env values never leave the server for a host outside the signed selector', () => {
  it('a host relabelled out of the selector while offline never gets the command or its env when it reconnects', async () => {
    for (const host of [HOST_A, HOST_B]) {
      const r = await s.t.api('PATCH', `/api/v1/nodes/${host}/labels`, { set: { tier: 'gold' } });
      expect(r.status, r.text).toBe(200);
    }
    await b.stop();
    await connected(HOST_B, false);
    const m = join(markers, 'env-run');
    const cmd = signed(s.root, {
      target: 'tier=gold',
      env: { HF_TOKEN: 'hf_secret_value' },
      command: { kind: 'argv', argv: ['sh', '-c', `echo "$HF_TOKEN" >> '${m}'`] },
      timeoutMs: 60_000,
    });
    const runId = await submitRun(s.t, cmd);
    await waitFor('A got the command', () => gotRun(HOST_A, runId));
    // While B is away its labels change on the server: it is no longer in the command's signed selector.
    const patched = await s.t.api('PATCH', `/api/v1/nodes/${HOST_B}/labels`, { set: { tier: 'bronze' } });
    expect(patched.status, patched.text).toBe(200);
    await restart(b, HOST_B);
    await connected(HOST_B, true);
    const run = await waitRunFinal(s.t, runId);
    expect(targetOf(run, HOST_B)).toMatchObject({ state: 'canceled', reason: expect.stringContaining("no longer matches the signed target 'tier=gold'") });
    await sleep(200);
    expect(gotRun(HOST_B, runId)).toBe(false);
  });
});
