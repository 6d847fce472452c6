import { describe, expect, it } from 'vitest';
import { generateEd25519, type AgentEvent, type AllocStateData } from '@gpufleet/protocol';
import { MemoryStateStore } from '../runtime/state.js';
import { stubGpu } from '../testing/stub-backend.js';
import { jobSpec, placementOf, signedJob, stubAssigned } from '../testing/workload-harness.js';
import type { ExecutorStart, RunningWorkload, WorkloadExecutor, WorkloadExit } from './executor.js';
import { WorkloadSupervisor } from './supervisor.js';

/**
 * The supervisor without an agent, driving a scripted executor: what an executor's answers
 * (start failures, workloads already gone when adopted, simulated health) turn into.
 */

const root = generateEd25519();

interface Scripted {
  exit(exit: WorkloadExit): void;
  healthy: boolean;
}

/** An executor whose workloads the test ends, and whose starts can be made to fail. */
class ScriptedExecutor implements WorkloadExecutor {
  readonly started: ExecutorStart[] = [];
  readonly instances: Scripted[] = [];
  failStarts = 0;
  adoptAs: WorkloadExit | null | 'running' = null;
  cleaned: string[] = [];

  constructor(readonly kind: 'process' | 'container') {}

  async start(s: ExecutorStart): Promise<RunningWorkload> {
    this.started.push(s);
    if (this.failStarts > 0) {
      this.failStarts--;
      throw new Error('image pull failed: registry unreachable');
    }
    return this.instance();
  }

  async adopt(): Promise<RunningWorkload | null> {
    if (this.adoptAs === null) return null;
    const w = this.instance();
    if (this.adoptAs !== 'running') this.instances.at(-1)!.exit(this.adoptAs);
    return w;
  }

  async cleanup(allocId: string): Promise<void> {
    this.cleaned.push(allocId);
  }

  private instance(): RunningWorkload {
    let resolve!: (e: WorkloadExit) => void;
    const exited = new Promise<WorkloadExit>((r) => (resolve = r));
    const s: Scripted = { exit: resolve, healthy: true };
    this.instances.push(s);
    return {
      exited,
      checkAddress: null,
      stop: async () => {
        resolve({ exitCode: 143, signal: null });
        return exited;
      },
      execCheck: async () => ({ exitCode: 0 }),
      simulatedHealth: async () => s.healthy,
    };
  }
}

function rig(executors: WorkloadExecutor[], state = new MemoryStateStore()) {
  const events: AgentEvent[] = [];
  const supervisor = new WorkloadSupervisor({
    state,
    trust: { roots: [root.did], skewMs: 60_000, isRevoked: () => false, labelView: (labels) => ({ labels, vouches: (k) => k in labels }) },
    host: () => ({
      nodeId: 'did:key:zHost',
      hostname: 'stub-host',
      gpus: [0, 1].map((i) => ({ index: i, uuid: stubGpu(i).uuid, vendor: 'nvidia' as const, pciBusId: null })),
      labels: {},
    }),
    executors,
    enqueue: (e) => events.push({ id: String(events.length), ts: 0, gpuUuid: null, pciBusId: null, data: {}, ...e } as AgentEvent),
  });
  const states = (allocId: string) =>
    events.filter((e) => e.kind === 'alloc-state' && (e.data as AllocStateData).allocId === allocId).map((e) => e.data as AllocStateData);
  const until = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
    if (!check()) throw new Error(`timed out waiting for ${what}`);
  };
  return { supervisor, events, states, until, state };
}

describe('WorkloadSupervisor with a scripted executor', () => {
  it('a start that fails is handled like an exit: restarted per policy, then failed with the reason', async () => {
    const exec = new ScriptedExecutor('process');
    exec.failStarts = 5;
    const { supervisor, states, until } = rig([exec]);
    const p = placementOf(signedJob(root, jobSpec({ restart: { attempts: 1, within: 0, delay: 1 } })));
    supervisor.onFrame({ op: 'start', placement: p });
    await until('failed', () => states(p.allocId).some((s) => s.state === 'failed'));
    expect(states(p.allocId).map((s) => s.state)).toEqual(['starting', 'restarting', 'failed']);
    expect(states(p.allocId).at(-1)!.message).toMatch(/could not start: image pull failed: registry unreachable; out of restarts/);
    expect(exec.cleaned).toEqual([p.allocId]);
  });

  it('asks simulatedHealth instead of probing, and restarts on simulated failures', async () => {
    const exec = new ScriptedExecutor('process');
    const { supervisor, states, until } = rig([exec]);
    const p = placementOf(
      signedJob(root, jobSpec({ health: { tcp: ':1', interval: 100, timeout: 100, grace: 0, failures: 1 }, restart: { attempts: 1, within: 0, delay: 1 } })),
    );
    supervisor.onFrame({ op: 'start', placement: p });
    await until('healthy', () => states(p.allocId).some((s) => s.healthy === true));
    exec.instances[0]!.healthy = false;
    await until('restarted', () => exec.started.length === 2);
    expect(states(p.allocId).some((s) => s.state === 'restarting' && s.healthy === false)).toBe(true);
  });

  it('hands the executor only the signed spec and the placement: GPUs with vendor, env with identity and visibility', async () => {
    const exec = new ScriptedExecutor('process');
    const { supervisor, until } = rig([exec]);
    const p = placementOf(signedJob(root, jobSpec({ env: { A: '1', GPUFLEET_JOB: 'spoofed', NVIDIA_VISIBLE_DEVICES: 'all' } })), {
      gpus: [stubAssigned(1)],
      index: 1,
    });
    supervisor.onFrame({ op: 'start', placement: p });
    await until('a start', () => exec.started.length === 1);
    const s = exec.started[0]!;
    expect(s).toMatchObject({ allocId: p.allocId, job: 'llama', name: 'web-1', group: 'web', jobVersion: 1, spec: p.job.payload.job.allocations.web });
    expect(s.gpus).toEqual([{ index: 1, uuid: stubGpu(1).uuid, vendor: 'nvidia', pciBusId: null }]);
    expect(s.env).toEqual({
      A: '1',
      GPUFLEET_ALLOC_ID: p.allocId,
      GPUFLEET_JOB: 'llama',
      GPUFLEET_ALLOC_NAME: 'web-1',
      CUDA_VISIBLE_DEVICES: stubGpu(1).uuid,
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    });
  });

  it('refuses a kind this host has no executor for', () => {
    const { supervisor, states } = rig([new ScriptedExecutor('process')]);
    const p = placementOf(signedJob(root, jobSpec({ executor: 'container', image: 'img:1', command: undefined })));
    supervisor.onFrame({ op: 'start', placement: p });
    expect(states(p.allocId)).toEqual([
      expect.objectContaining({ state: 'refused', reason: 'unsupported', message: expect.stringMatching(/no container executor/) }),
    ]);
  });

  it('a container that exited while the agent was down is taken over as exited: the restart policy decides', async () => {
    const state = new MemoryStateStore();
    const first = rig([new ScriptedExecutor('container')], state);
    const p = placementOf(signedJob(root, jobSpec({ executor: 'container', image: 'img:1', command: undefined }, { kind: 'batch' })));
    first.supervisor.onFrame({ op: 'start', placement: p });
    await first.until('running', () => first.states(p.allocId).some((s) => s.state === 'running'));
    await first.supervisor.shutdown();

    const exec = new ScriptedExecutor('container');
    exec.adoptAs = { exitCode: 0, signal: null };
    const second = rig([exec], state);
    await second.supervisor.resume();
    await second.until('complete', () => second.states(p.allocId).some((s) => s.state === 'complete'));
    expect(exec.started).toHaveLength(0);
    expect(second.states(p.allocId).map((s) => s.state)).toEqual(['running', 'complete']);
  });

  it('forgets the oldest finished allocations past keepFinished, never running ones', async () => {
    const exec = new ScriptedExecutor('process');
    const events: AgentEvent[] = [];
    const supervisor = new WorkloadSupervisor({
      state: new MemoryStateStore(),
      trust: { roots: [root.did], skewMs: 60_000, isRevoked: () => false, labelView: (labels) => ({ labels, vouches: () => true }) },
      host: () => ({ nodeId: 'did:key:zHost', hostname: 'stub-host', gpus: [], labels: {} }),
      executors: [exec],
      enqueue: (e) => events.push(e as AgentEvent),
      keepFinished: 2,
    });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const p = placementOf(signedJob(root, jobSpec({ resources: { gpus: 0 } }, { kind: 'batch' })), { gpus: [] });
      ids.push(p.allocId);
      supervisor.onFrame({ op: 'start', placement: p });
      for (let t = 0; t < 100 && exec.instances.length <= i; t++) await new Promise((r) => setTimeout(r, 5));
      exec.instances[i]!.exit({ exitCode: 0, signal: null });
      for (let t = 0; t < 100 && supervisor.get(p.allocId)?.state !== 'complete'; t++) await new Promise((r) => setTimeout(r, 5));
    }
    const running = placementOf(signedJob(root, jobSpec({ resources: { gpus: 0 } })), { gpus: [] });
    supervisor.onFrame({ op: 'start', placement: running });
    expect(supervisor.list().map((a) => a.allocId)).toEqual([ids[2], ids[3], running.allocId]);
  });
});
