import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, type ReplicaView } from '@gpufleet/protocol';
import { assertBuilt } from '../support/child-server.js';
import { Cleanups } from '../support/cleanups.js';
import { sleep, waitFor } from '../support/wait-for.js';
import { signFile, sleeperJob, WorkloadHost, type AllocView } from '../workloads/support.js';
import { ReplicaCluster, type Replica } from './replica-cluster.js';

/*
 * Workloads on a replica set (the built CLI over PostgreSQL and NATS, a real agent running a real
 * process): the job goes to the scheduler lease holder while the host is connected to the other
 * replica, which never read the job. Its host's reports must reach the holder, and must not make
 * the other replica stop the allocation as one of a purged job. Then the holder is SIGKILLed: the
 * survivor takes the lease over, reads the job it never saw, and can stop it.
 */
const FLAGS = ['--heartbeat-interval', '500ms', '--offline-after', '3', '--metrics-interval', '500ms'];

async function replicasOf(r: Replica): Promise<ReplicaView[]> {
  const res = await r.api('GET', '/api/v1/replicas');
  if (res.status !== 200) throw new Error(`${r.name} GET /api/v1/replicas: ${res.status} ${res.text}`);
  return res.body.replicas as ReplicaView[];
}

async function allocs(r: Replica, job: string): Promise<AllocView[]> {
  const res = await r.api('GET', `/api/v1/allocations?job=${job}`);
  if (res.status !== 200) throw new Error(`${r.name} allocations of ${job}: ${res.status} ${res.text}`);
  return res.body.items as AllocView[];
}

/** Whether a process whose command line carries `marker` runs on this machine. */
function running(marker: string): boolean {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

describe('e2e replicas: workloads follow the scheduler lease', () => {
  const cleanups = new Cleanups();
  const cluster = new ReplicaCluster(cleanups, FLAGS);
  let holder: Replica;
  let other: Replica;
  let host: WorkloadHost;
  const root = generateEd25519();
  /** In the allocation's shell command line, so the test can see the process on this machine. */
  const marker = `replica-wl-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    assertBuilt();
    await cluster.create();
    for (const name of ['cp-1', 'cp-2']) await cluster.start(name);
    const list = await waitFor('both replicas listed, the scheduler lease held', async () => {
      const l = await replicasOf(cluster.replicas[0]!);
      return l.length === 2 && l.some((x) => x.leases.includes('scheduler')) ? l : null;
    });
    const holderName = list.find((x) => x.leases.includes('scheduler'))!.name;
    holder = cluster.replicas.find((r) => r.name === holderName)!;
    other = cluster.replicas.find((r) => r !== holder)!;
    const init = await holder.api('POST', '/api/v1/roots/init', { did: root.did });
    expect(init.status, init.text).toBe(201);
    // The root set made on one replica reaches the other (its join tokens carry it to hosts).
    await waitFor(`${other.name} knows the fleet root`, async () => {
      const r = await other.api('GET', '/api/v1/roots');
      return r.status === 200 && (r.body.roots as string[]).includes(root.did);
    });
    // The host is connected to the replica that does not schedule.
    const token = await other.api('POST', '/api/v1/join-tokens', { description: 'replica workloads', reusable: true, serverUrls: [other.server.url] });
    expect(token.status, token.text).toBe(201);
    host = new WorkloadHost('e2e-replica-wl', token.body.token, 2);
    cleanups.add('host', () => host.dispose());
    await host.start();
    await waitFor('the host READY on the holder', async () => {
      const r = await holder.api('GET', `/api/v1/nodes/${encodeURIComponent(host.nodeId)}`);
      return r.status === 200 && r.body.status === 'READY' && r.body.connected && r.body.gpus.length === 2;
    });
  }, 90_000);
  afterAll(() => cleanups.run(), 30_000);

  it('a job placed by the holder runs on a host held by the other replica, and keeps running', async () => {
    const job = sleeperJob('across', 1, {}, { command: ['sh', '-c', `echo started; sleep 1000; echo ${marker}`] });
    const refused = await other.api('POST', '/api/v1/jobs', signFile(root, job));
    expect(refused.status, 'job changes go to the scheduler lease holder').toBe(412);
    const submitted = await holder.api('POST', '/api/v1/jobs', signFile(root, job));
    expect(submitted.status, submitted.text).toBe(201);
    await waitFor('the allocation running, seen from both replicas', async () => {
      for (const r of [holder, other]) {
        const all = await allocs(r, 'across');
        const live = all.filter((a) => a.desired === 'run');
        if (!(live.length === 1 && live[0]!.status === 'running'))
          throw new Error(`${r.name}: ${all.map((a) => `${a.name} ${a.desired} ${a.status} ${a.message}`).join(', ')}`);
      }
      if (!running(marker)) throw new Error('no process on the host');
      return true;
    });
    // A few heartbeats later: nobody stopped it.
    await sleep(2000);
    const [a] = await allocs(holder, 'across');
    expect(a).toMatchObject({ desired: 'run', status: 'running' });
    expect(running(marker)).toBe(true);
  }, 60_000);

  it('the holder SIGKILLed, the survivor takes the scheduler over with the job it never read, and stops it', async () => {
    expect((await holder.server.kill('SIGKILL')).signal).toBe('SIGKILL');
    await waitFor(
      `${other.name} holds the scheduler lease`,
      async () => (await replicasOf(other)).find((x) => x.name === other.name)?.leases.includes('scheduler') ?? false,
      {
        timeoutMs: 20_000,
      },
    );
    const stopped = await waitFor('the job stopped through the survivor', async () => {
      const r = await other.api('POST', '/api/v1/jobs/across/stop', { reason: 'e2e done' });
      return r.status === 200 ? r : null;
    });
    expect(stopped.status).toBe(200);
    await waitFor('the allocation stopped on the host', async () => {
      const [a] = await allocs(other, 'across');
      return a?.status === 'stopped' && !running(marker);
    });
  }, 60_000);
});
