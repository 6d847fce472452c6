import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, type AllocPlacement } from '@gpufleet/protocol';
import { startExecAgent, type ExecAgent } from '../testing/exec-harness.js';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { processAlive, waitGone } from '../testing/process-probe.js';
import { stubGpu } from '../testing/stub-backend.js';
import {
  allocOutput,
  allocStates,
  hashOf,
  jobSpec,
  placementOf,
  signedJob,
  startAlloc,
  stopAlloc,
  stubAssigned,
  waitForAllocState,
} from '../testing/workload-harness.js';

/**
 * The workload supervisor in a real agent, over real WebSockets, running real processes (the
 * process executor): start, output, restarts, health checks, stop, and orders delivered twice.
 */

const root = generateEd25519();
let cp: FakeControlPlane;
let host: ExecAgent;
let port: number;
let tcp: Server;

beforeAll(async () => {
  cp = new FakeControlPlane({ heartbeatMs: 1000 });
  await cp.start();
  host = await startExecAgent(cp, { roots: [root.did], labels: { region: 'eu' } });
  // Something for tcp health checks to reach.
  tcp = createServer((s) => s.end());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  port = (tcp.address() as { port: number }).port;
});

afterAll(async () => {
  await host?.agent.stop();
  await cp?.stop();
  await new Promise((r) => tcp?.close(r));
});

const node = () => host.node;
const nodeId = () => host.identity.did;

/** A placement of a process job signed by the root, without GPUs unless the group asks for them. */
function place(group: Parameters<typeof jobSpec>[0], job: Parameters<typeof jobSpec>[1] = {}, over: Partial<AllocPlacement> = {}): AllocPlacement {
  const spec = jobSpec({ resources: { gpus: 0 }, ...group }, job);
  return placementOf(signedJob(root, spec), { gpus: spec.allocations.web!.resources.gpus === 0 ? [] : [stubAssigned(0)], ...over });
}

/** The pid a workload printed as `pid=N`. */
async function printedPid(allocId: string): Promise<number> {
  await cp.waitFor(`the pid of ${allocId}`, () => /pid=(\d+)/.test(allocOutput(node(), allocId).stdout));
  return Number(/pid=(\d+)/.exec(allocOutput(node(), allocId).stdout)![1]);
}

describe('process workloads under the supervisor', () => {
  it('starts with the spec env, the allocation identity and its GPUs visible; streams output; stops on order', async () => {
    const p = place(
      {
        resources: { gpus: 1 },
        command: [
          'sh',
          '-c',
          'echo "pid=$$ id=$GPUFLEET_ALLOC_ID job=$GPUFLEET_JOB name=$GPUFLEET_ALLOC_NAME model=$MODEL cuda=$CUDA_VISIBLE_DEVICES"; echo oops >&2; exec sleep 30',
        ],
        env: { MODEL: 'llama-3-8b', CUDA_VISIBLE_DEVICES: '0,1' },
      },
      {},
      { gpus: [stubAssigned(1)], index: 1 },
    );
    startAlloc(cp, nodeId(), p);
    const running = await waitForAllocState(cp, node(), p.allocId, 'running');
    expect(running).toMatchObject({ specHash: hashOf(p), healthy: null, restarts: 0, reason: null });
    expect(allocStates(node(), p.allocId)[0]!.state).toBe('starting');
    const pid = await printedPid(p.allocId);
    await cp.waitFor('stderr', () => allocOutput(node(), p.allocId).stderr.includes('oops'));
    // The spec's CUDA_VISIBLE_DEVICES cannot widen the placement: the agent's wins.
    expect(allocOutput(node(), p.allocId).stdout).toContain(`id=${p.allocId} job=llama name=web-1 model=llama-3-8b cuda=${stubGpu(1).uuid}`);
    expect(host.agent.workloads!.holderOf(1)).toBe(p.allocId);
    stopAlloc(cp, nodeId(), p.allocId, hashOf(p), 'job stopped');
    const stopped = await waitForAllocState(cp, node(), p.allocId, 'stopped');
    expect(stopped.message).toContain('job stopped');
    await waitGone([pid]);
    expect(host.agent.workloads!.holderOf(1)).toBeNull();
  });

  it('completes a batch allocation that exits 0, and restarts one that exits non-zero until it fails', async () => {
    const ok = place({ command: ['sh', '-c', 'echo done'] }, { kind: 'batch' });
    startAlloc(cp, nodeId(), ok);
    expect(await waitForAllocState(cp, node(), ok.allocId, 'complete')).toMatchObject({ exitCode: 0, restarts: 0 });

    const bad = place({ command: ['sh', '-c', 'echo try; exit 3'], restart: { attempts: 2, within: 600_000, delay: 20 } }, { kind: 'batch' });
    startAlloc(cp, nodeId(), bad);
    const failed = await waitForAllocState(cp, node(), bad.allocId, 'failed');
    expect(failed).toMatchObject({ exitCode: 3, restarts: 2 });
    expect(failed.message).toMatch(/out of restarts/);
    expect(allocStates(node(), bad.allocId).map((s) => s.state)).toEqual(['starting', 'running', 'restarting', 'running', 'restarting', 'running', 'failed']);
    await cp.waitFor('three runs of output', () => allocOutput(node(), bad.allocId).stdout === 'try\ntry\ntry\n');
  });

  it('restarts a crashed service (any exit) with its restart count, then fails it out of attempts', async () => {
    const p = place({ command: ['sh', '-c', 'echo up; sleep 0.2; exit 0'], restart: { attempts: 1, within: 0, delay: 20 } });
    startAlloc(cp, nodeId(), p);
    const restarting = await waitForAllocState(cp, node(), p.allocId, 'restarting');
    expect(restarting).toMatchObject({ exitCode: 0, restarts: 1 });
    expect(restarting.message).toMatch(/exited with code 0; restarting in 20ms/);
    const failed = await waitForAllocState(cp, node(), p.allocId, 'failed');
    expect(failed).toMatchObject({ restarts: 1, exitCode: 0 });
    expect(failed.message).toContain('1 restart in all');
  });

  it('reports a passing tcp check as healthy', async () => {
    const p = place({ health: { tcp: `:${port}`, interval: 100, timeout: 1000, grace: 0, failures: 2 } });
    startAlloc(cp, nodeId(), p);
    expect(await waitForAllocState(cp, node(), p.allocId, 'running', { where: (d) => d.healthy === true })).toMatchObject({ healthy: true });
    stopAlloc(cp, nodeId(), p.allocId, hashOf(p));
    await waitForAllocState(cp, node(), p.allocId, 'stopped');
  });

  it('restarts an allocation whose health check keeps failing, then fails it when out of attempts', async () => {
    const p = place({
      command: ['sh', '-c', 'echo pid=$$; exec sleep 30'],
      health: { command: ['sh', '-c', 'exit 1'], interval: 100, timeout: 1000, grace: 0, failures: 2 },
      restart: { attempts: 1, within: 600_000, delay: 20 },
    });
    startAlloc(cp, nodeId(), p);
    const unhealthy = await waitForAllocState(cp, node(), p.allocId, 'running', { where: (d) => d.healthy === false });
    expect(unhealthy.message).toMatch(/2 health checks failed in a row: check command sh exited 1/);
    const restarting = await waitForAllocState(cp, node(), p.allocId, 'restarting');
    expect(restarting).toMatchObject({ restarts: 1, healthy: false });
    const failed = await waitForAllocState(cp, node(), p.allocId, 'failed');
    expect(failed.message).toMatch(/unhealthy .*out of restarts/);
    // Both instances were stopped, not left behind.
    const pids = [...allocOutput(node(), p.allocId).stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    await waitGone(pids);
  });

  it('a failing http check to a port nothing listens on makes it unhealthy', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const p = place({
      health: { http: `127.0.0.1:${deadPort}/health`, interval: 100, timeout: 500, grace: 0, failures: 1 },
      restart: { attempts: 0, within: 0, delay: 0 },
    });
    startAlloc(cp, nodeId(), p);
    const failed = await waitForAllocState(cp, node(), p.allocId, 'failed');
    expect(failed.message).toMatch(/GET \/health on 127\.0\.0\.1:\d+ failed: ECONNREFUSED/);
  });

  it('stops with the grace period, then kills a workload that ignores SIGTERM', async () => {
    const p = place({
      command: ['sh', '-c', 'trap "echo term-ignored" TERM; echo pid=$$; while true; do sleep 0.1; done'],
      stop_grace: 300,
    });
    startAlloc(cp, nodeId(), p);
    await waitForAllocState(cp, node(), p.allocId, 'running');
    const pid = await printedPid(p.allocId);
    stopAlloc(cp, nodeId(), p.allocId, hashOf(p));
    await waitForAllocState(cp, node(), p.allocId, 'stopped');
    expect(processAlive(pid)).toBe(false);
    await cp.waitFor('the trap ran', () => allocOutput(node(), p.allocId).stdout.includes('term-ignored'));
  });

  it('a start delivered again reports the state and starts nothing twice; another spec under the same id is refused', async () => {
    const p = place({ command: ['sh', '-c', 'echo started; exec sleep 30'] });
    startAlloc(cp, nodeId(), p);
    await waitForAllocState(cp, node(), p.allocId, 'running');
    startAlloc(cp, nodeId(), p);
    const again = await waitForAllocState(cp, node(), p.allocId, 'running', { count: 2 });
    expect(again.message).toContain('start order delivered again');
    const other = place({ command: ['sh', '-c', 'echo other; exec sleep 30'] }, {}, { allocId: p.allocId });
    startAlloc(cp, nodeId(), other);
    const refused = await waitForAllocState(cp, node(), p.allocId, 'refused');
    expect(refused).toMatchObject({ reason: 'placement_invalid', specHash: hashOf(other) });
    await new Promise((r) => setTimeout(r, 300));
    expect(allocOutput(node(), p.allocId).stdout).toBe('started\n');
    expect(host.agent.workloads!.get(p.allocId)).toMatchObject({ state: 'running', specHash: hashOf(p) });
    stopAlloc(cp, nodeId(), p.allocId, hashOf(p));
    await waitForAllocState(cp, node(), p.allocId, 'stopped');
  });

  it('a stop for another spec hash does nothing; a stop for an allocation it does not have reports nothing runs', async () => {
    const p = place({ command: ['sh', '-c', 'echo pid=$$; exec sleep 30'] });
    startAlloc(cp, nodeId(), p);
    await waitForAllocState(cp, node(), p.allocId, 'running');
    const pid = await printedPid(p.allocId);
    stopAlloc(cp, nodeId(), p.allocId, 'f'.repeat(64));
    const report = await waitForAllocState(cp, node(), p.allocId, 'running', { count: 2 });
    expect(report.message).toMatch(/a stop order for spec ffffffffffff was ignored/);
    expect(processAlive(pid)).toBe(true);
    expect(host.agent.workloads!.get(p.allocId)?.state).toBe('running');

    stopAlloc(cp, nodeId(), 'never-here-1', 'a'.repeat(64));
    expect((await waitForAllocState(cp, node(), 'never-here-1', 'stopped')).message).toMatch(/does not run on this host/);

    stopAlloc(cp, nodeId(), p.allocId, hashOf(p));
    await waitForAllocState(cp, node(), p.allocId, 'stopped');
    await waitGone([pid]);
    // Stopped is final: a later stop reports it again, a start delivered again does not run it.
    startAlloc(cp, nodeId(), p);
    expect((await waitForAllocState(cp, node(), p.allocId, 'stopped', { count: 2 })).message).toContain('delivered again');
  });

  it('caps a chatty workload: output is dropped over the rate and the loss is said', async () => {
    // 1 MiB at once: far over the 256 KiB burst.
    const p = place({ command: ['sh', '-c', 'i=0; while [ $i -lt 2048 ]; do printf "%0511d\\n" $i; i=$((i+1)); done; exec sleep 30'] });
    startAlloc(cp, nodeId(), p);
    await cp.waitFor('the first burst', () => allocOutput(node(), p.allocId).stdout.length > 200 * 1024, 15_000);
    // What was dropped is said when output flows again, or when the allocation ends.
    stopAlloc(cp, nodeId(), p.allocId, hashOf(p));
    await waitForAllocState(cp, node(), p.allocId, 'stopped');
    await cp.waitFor('the drop notice', () => /bytes of this allocation's output were dropped/.test(allocOutput(node(), p.allocId).stderr));
    const out = allocOutput(node(), p.allocId);
    expect(out.stdout.length).toBeLessThan(600 * 1024);
    expect(out.stdout.length).toBeGreaterThan(100 * 1024);
    for (const c of out.chunks) expect(Buffer.byteLength((c.data as { data: string }).data)).toBeLessThanOrEqual(16 * 1024);
  });
});
