import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, type GroupSpec } from '@gpufleet/protocol';
import { ContainerExecutor, type ExecutorStart, type RunningWorkload } from '../../packages/agent/src/workloads/index.js';
import { probeHttp } from '../../packages/agent/src/workloads/health-probe.js';
import { MemoryStateStore } from '../../packages/agent/src/runtime/state.js';
import { startExecAgent, type ExecAgent } from '../../packages/agent/src/testing/exec-harness.js';
import { FakeControlPlane } from '../../packages/agent/src/testing/fake-control-plane.js';
import {
  allocOutput,
  hashOf,
  jobSpec,
  placementOf,
  signedJob,
  startAlloc,
  stopAlloc,
  waitForAllocState,
} from '../../packages/agent/src/testing/workload-harness.js';
import { PodmanEnv, TEST_IMAGE } from './podman-env.js';

// The container executor against a real Podman serving the Docker Engine API
// (scripts/podman-test-env.sh), alone and under a real agent. When Podman cannot run here,
// beforeAll fails every test with the reason: CI installs it, so a skip would hide a break.

let env: PodmanEnv;
let executor: ContainerExecutor;
const allocIds: string[] = [];

beforeAll(async () => {
  env = await PodmanEnv.start();
  executor = new ContainerExecutor({ socketPath: env.socketPath });
}, 90_000);

afterAll(async () => {
  // Only this file's containers: other tests may share the engine's storage.
  for (const id of allocIds) await executor?.cleanup(id).catch(() => undefined);
  await env?.close();
}, 60_000);

function newId(): string {
  const id = `ctr-${randomBytes(6).toString('hex')}`;
  allocIds.push(id);
  return id;
}

function start(script: string, group: Partial<GroupSpec> = {}, envVars: Record<string, string> = {}): ExecutorStart {
  const spec = jobSpec({ executor: 'container', image: TEST_IMAGE, command: ['/bin/sh', '-c', script], resources: { gpus: 0 }, ...group }).allocations.web!;
  const allocId = newId();
  return {
    allocId,
    job: 'llama',
    name: 'web-0',
    group: 'web',
    jobVersion: 3,
    specHash: 'c'.repeat(64),
    spec,
    gpus: [],
    env: { GPUFLEET_ALLOC_ID: allocId, ...envVars },
  };
}

function collector() {
  const out = { stdout: '', stderr: '' };
  return { out, sink: (s: 'stdout' | 'stderr', d: string) => (out[s] += d) };
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function inspect(allocId: string): Promise<Record<string, unknown>> {
  return (JSON.parse(await env.podman(['inspect', `gpufleet-${allocId}`])) as Record<string, unknown>[])[0]!;
}

// `trap` because a shell as PID 1 ignores SIGTERM unless it sets a handler.
const SERVE = "trap 'exit 0' TERM; mkdir -p /www; echo ok > /www/health; /bin/busybox httpd -f -p 8000 -h /www & while true; do sleep 0.2; done";

describe('ContainerExecutor against a real Podman', () => {
  it('creates and starts the container from the spec: image, command, env, labels, limits; streams both outputs; reports the exit code', async () => {
    const s = start(
      'echo "hello $MODEL $GPUFLEET_ALLOC_ID"; echo warn >&2; sleep 0.5; exit 5',
      { resources: { gpus: 0, memory: 64 * 2 ** 20, cpu: 0.5 } },
      { MODEL: 'llama-3-8b' },
    );
    const { out, sink } = collector();
    const w = await executor.start(s, sink);
    const details = await inspect(s.allocId);
    const config = details.Config as { Labels: Record<string, string>; Env: string[]; Image: string };
    expect(config.Labels).toMatchObject({ 'gpufleet.alloc': s.allocId, 'gpufleet.job': 'llama', 'gpufleet.name': 'web-0', 'gpufleet.spec': 'c'.repeat(64) });
    expect(config.Env).toContain('MODEL=llama-3-8b');
    const hostConfig = details.HostConfig as { Memory: number; NanoCpus: number; RestartPolicy: { Name: string } };
    expect(hostConfig.Memory).toBe(64 * 2 ** 20);
    expect(hostConfig.NanoCpus).toBe(500_000_000);
    expect(await w.exited).toEqual({ exitCode: 5, signal: null });
    expect(out.stdout).toBe(`hello llama-3-8b ${s.allocId}\n`);
    expect(out.stderr).toBe('warn\n');
    await executor.cleanup(s.allocId);
    await expect(env.podman(['inspect', `gpufleet-${s.allocId}`])).rejects.toThrow();
  });

  it('stops with the grace period: a container that handles SIGTERM ends at once, one that ignores it is killed after the grace', async () => {
    const polite = await executor.start(start("trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"), collector().sink);
    expect(await polite.stop(10_000)).toEqual({ exitCode: 0, signal: null });
    const stubborn = await executor.start(start("trap '' TERM; while true; do sleep 0.1; done"), collector().sink);
    // 137: killed (SIGKILL) once the grace period was over, since SIGTERM did nothing.
    expect((await stubborn.stop(1000)).exitCode).toBe(137);
  });

  it("answers health checks at the container's address, and runs check commands inside it", async () => {
    const s = start(SERVE);
    const w = await executor.start(s, collector().sink);
    expect(w.checkAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    let probe = await probeHttp(w.checkAddress!, 8000, '/health', 1000);
    for (let i = 0; i < 50 && !probe.ok; i++) {
      await new Promise((r) => setTimeout(r, 100));
      probe = await probeHttp(w.checkAddress!, 8000, '/health', 1000);
    }
    expect(probe).toEqual({ ok: true, detail: 'HTTP 200' });
    expect(await w.execCheck(['sh', '-c', 'test -f /www/health'], 5000)).toEqual({ exitCode: 0 });
    expect(await w.execCheck(['sh', '-c', 'exit 3'], 5000)).toEqual({ exitCode: 3 });
    await w.stop(5000);
  });

  it('a start for the same allocation replaces its old container; adopt finds the one that runs; cleanup removes it', async () => {
    const s = start("trap 'exit 0' TERM; echo run; while true; do sleep 0.1; done");
    const first = await executor.start(s, collector().sink);
    const firstId = ((await inspect(s.allocId)) as { Id: string }).Id;
    const { out, sink } = collector();
    const second = await executor.start(s, sink);
    const secondId = ((await inspect(s.allocId)) as { Id: string }).Id;
    expect(secondId).not.toBe(firstId);
    expect((await first.exited).exitCode).not.toBeNull();
    await until('the output', () => out.stdout === 'run\n');
    second.detach?.();

    // A new agent: a fresh executor finds the running container by its label.
    const { out: adoptedOut, sink: adoptedSink } = collector();
    const adopted = (await new ContainerExecutor({ socketPath: env.socketPath }).adopt(s.allocId, adoptedSink, {
      sinceMs: Date.now() + 60_000,
    })) as RunningWorkload;
    expect(adopted).not.toBeNull();
    expect(await adopted.stop(5000)).toEqual({ exitCode: 0, signal: null });
    // Output from before `sinceMs` is not sent again.
    expect(adoptedOut.stdout).toBe('');
    expect(await executor.adopt('ctr-never-there', () => undefined)).toBeNull();
    await executor.cleanup(s.allocId);
    expect(await executor.adopt(s.allocId, () => undefined)).toBeNull();
  });

  it('a missing image that cannot be pulled fails the start with the reason', async () => {
    const s = start('true', { image: 'localhost:1/gpufleet/absent:1' });
    await expect(executor.start(s, () => undefined)).rejects.toThrow(/absent/);
  });
});

describe('container workloads under a real agent', () => {
  const root = generateEd25519();
  let cp: FakeControlPlane;
  const state = new MemoryStateStore();
  let host: ExecAgent | null = null;

  beforeAll(async () => {
    cp = new FakeControlPlane({ heartbeatMs: 1000 });
    await cp.start();
  });

  afterAll(async () => {
    await host?.agent.stop();
    await cp?.stop();
  });

  async function agent(): Promise<ExecAgent> {
    host = await startExecAgent(cp, { roots: [root.did], state, seed: 21, workloads: { executors: [new ContainerExecutor({ socketPath: env.socketPath })] } });
    return host;
  }

  it('runs, restarts on a crash, survives an agent restart (taken over, not restarted), and stops on order', async () => {
    let a = await agent();
    const spec = jobSpec({
      executor: 'container',
      image: TEST_IMAGE,
      command: ['/bin/sh', '-c', "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done"],
      resources: { gpus: 0 },
      restart: { attempts: 3, within: 600_000, delay: 50 },
    });
    const p = placementOf(signedJob(root, spec), { gpus: [] });
    allocIds.push(p.allocId);
    startAlloc(cp, a.identity.did, p);
    await waitForAllocState(cp, a.node, p.allocId, 'running', { timeoutMs: 30_000 });
    // A crash from outside: the container is killed.
    await env.podman(['kill', '--signal', 'KILL', `gpufleet-${p.allocId}`]);
    const restarting = await waitForAllocState(cp, a.node, p.allocId, 'restarting', { timeoutMs: 30_000 });
    expect(restarting).toMatchObject({ exitCode: 137, restarts: 1 });
    await waitForAllocState(cp, a.node, p.allocId, 'running', { count: 2, timeoutMs: 30_000 });
    const containerId = ((await inspect(p.allocId)) as { Id: string }).Id;

    await a.agent.stop();
    // The container outlives its agent.
    expect(((await inspect(p.allocId)) as { State: { Running: boolean } }).State.Running).toBe(true);

    a = await agent();
    const taken = await waitForAllocState(cp, a.node, p.allocId, 'running', { where: (d) => /taken over/.test(d.message), timeoutMs: 30_000 });
    expect(taken.restarts).toBe(1);
    expect(((await inspect(p.allocId)) as { Id: string }).Id).toBe(containerId);
    await cp.waitFor('the output of both containers', () => allocOutput(a.node, p.allocId).stdout.split('started').length - 1 >= 2);

    stopAlloc(cp, a.identity.did, p.allocId, hashOf(p), 'job stopped');
    const stopped = await waitForAllocState(cp, a.node, p.allocId, 'stopped', { timeoutMs: 30_000 });
    expect(stopped.exitCode).toBe(0);
    await expect(env.podman(['inspect', `gpufleet-${p.allocId}`])).rejects.toThrow();
  });
});
