import { describe, expect, it } from 'vitest';
import { FleetError, type GroupSpec } from '@gpufleet/protocol';
import type { ExecutorStart, WorkloadExecutor } from '@gpufleet/agent';
import { simBehavior } from './sim-behavior.js';
import { SimWorkloads } from './sim-workloads.js';

const group = (env: Record<string, string> = {}, executor: GroupSpec['executor'] = 'container'): GroupSpec => ({
  count: 2,
  executor,
  ...(executor === 'container' ? { image: 'ghcr.io/example/vllm:0.6' } : { command: ['python3', 'serve.py'] }),
  env,
  resources: { gpus: 1 },
  restart: { attempts: 3, within: 600_000, delay: 1000 },
  stop_grace: 10_000,
});

function startOf(
  allocId: string,
  o: { name?: string; job?: string; env?: Record<string, string>; executor?: GroupSpec['executor']; gpu?: number } = {},
): ExecutorStart {
  const spec = group(o.env, o.executor);
  return {
    allocId,
    job: o.job ?? 'llama',
    name: o.name ?? 'web-0',
    group: 'web',
    jobVersion: 1,
    specHash: 'a'.repeat(64),
    spec,
    gpus: [{ index: o.gpu ?? 3, uuid: 'GPU-0000-3', vendor: 'nvidia', pciBusId: '0000:13:00.0' }],
    env: { ...spec.env, GPUFLEET_ALLOC_ID: allocId },
  };
}

function rig(o: { clockMs?: { now: number } } = {}) {
  const clock = o.clockMs ?? { now: 1_000_000 };
  const workloads = new SimWorkloads({ seed: 7, clock: { now: () => clock.now }, startDelayMs: { min: 0, max: 0 } });
  const output: string[] = [];
  const sink = (stream: 'stdout' | 'stderr', data: string) => output.push(`${stream}: ${data}`);
  const [container, process] = workloads.executorsFor('sim-h100-001') as [WorkloadExecutor, WorkloadExecutor];
  return { workloads, output, sink, container, process, clock };
}

describe('SimWorkloads: the fake executor', () => {
  it('gives each host one executor per kind', () => {
    const { container, process } = rig();
    expect([container.kind, process.kind]).toEqual(['container', 'process']);
  });

  it('starts a workload that keeps running, writes a few lines and stops on SIGTERM', async () => {
    const { workloads, output, sink, container } = rig();
    const w = await container.start(startOf('alloc-0001'), sink);
    expect(output).toEqual([
      'stdout: sim: llama/web-0 (alloc-0001) starting on sim-h100-001, GPU 3\n',
      'stdout: sim: image ghcr.io/example/vllm:0.6\n',
      'stdout: sim: ready\n',
    ]);
    expect(workloads.find('llama/web-0')).toMatchObject({ allocId: 'alloc-0001', hostname: 'sim-h100-001', running: true, healthy: true, starts: 1 });
    expect(workloads.find('alloc-0001').gpus).toEqual([{ index: 3, uuid: 'GPU-0000-3' }]);
    expect(await w.simulatedHealth!()).toBe(true);
    expect(await w.execCheck(['true'], 1000)).toEqual({ exitCode: 0 });
    expect(w.checkAddress).toBeNull();
    expect(await w.stop(5000)).toEqual({ exitCode: null, signal: 'SIGTERM' });
    expect(await w.exited).toEqual({ exitCode: null, signal: 'SIGTERM' });
    expect(output.at(-1)).toBe('stdout: sim: SIGTERM received, shutting down\n');
    expect(workloads.running).toBe(0);
    expect(() => workloads.find('llama/web-0')).toThrow(/no running simulated allocation 'llama\/web-0' \(none runs\)/);
    // A second stop changes nothing and writes nothing.
    await w.stop(5000);
    expect(output).toHaveLength(4);
  });

  it('process allocations show their command', async () => {
    const { output, sink, process } = rig();
    await process.start(startOf('alloc-0002', { executor: 'process' }), sink);
    expect(output[1]).toBe('stdout: sim: command python3 serve.py\n');
  });

  it('crashes on demand with an exit code; a restart is the same allocation started again', async () => {
    const { workloads, output, sink, container } = rig();
    const first = await container.start(startOf('alloc-0003'), sink);
    expect(workloads.crash('llama/web-0', 137)).toMatchObject({ allocId: 'alloc-0003', running: false });
    expect(await first.exited).toEqual({ exitCode: 137, signal: null });
    expect(output.at(-1)).toBe('stderr: sim: crashed with exit code 137\n');
    expect(await first.simulatedHealth!()).toBe(false);
    // Nothing of that name runs now: a second crash has nothing to hit.
    expect(() => workloads.crash('llama/web-0', 1)).toThrow(FleetError);
    await container.start(startOf('alloc-0003'), sink);
    expect(workloads.find('alloc-0003').starts).toBe(2);
    expect(output.at(-3)).toMatch(/starting on sim-h100-001, GPU 3, start 2\n$/);
    expect(() => workloads.crash('alloc-0003', 256)).toThrow(/exit code is 0 to 255/);
    expect(() => workloads.crash('alloc-0003', -1)).toThrow(/exit code is 0 to 255/);
  });

  it('fails health checks on demand for a time, across restarts, and clears them', async () => {
    const { workloads, sink, container, clock } = rig();
    const w = await container.start(startOf('alloc-0004'), sink);
    workloads.failHealth('llama/web-0', 2000);
    expect(await w.simulatedHealth!()).toBe(false);
    expect(await w.execCheck(['curl', 'x'], 1000)).toEqual({ exitCode: 1 });
    expect(workloads.find('llama/web-0').healthy).toBe(false);
    // The host restarts it: the failure is the allocation's, so it still fails.
    w.stop(0);
    const again = await container.start(startOf('alloc-0004'), sink);
    expect(await again.simulatedHealth!()).toBe(false);
    clock.now += 2000;
    expect(await again.simulatedHealth!()).toBe(true);

    workloads.failHealth('alloc-0004', null);
    clock.now += 3_600_000;
    expect(await again.simulatedHealth!()).toBe(false);
    expect(workloads.clearHealth('sim-h100-002')).toBe(0);
    expect(await again.simulatedHealth!()).toBe(false);
    expect(workloads.clearHealth('sim-h100-001')).toBe(1);
    expect(await again.simulatedHealth!()).toBe(true);
    expect(() => workloads.failHealth('alloc-0004', -5)).toThrow(/>= 0 ms/);
  });

  it('behaves as the signed env says: failing health, exiting by itself, a start that fails', async () => {
    const { workloads, output, sink, container } = rig();
    const sick = await container.start(startOf('alloc-0005', { env: { SIM_HEALTH: 'fail' } }), sink);
    expect(await sick.simulatedHealth!()).toBe(false);
    expect(output.at(-1)).toMatch(/SIM_HEALTH=fail/);

    const batch = await container.start(startOf('alloc-0006', { name: 'train-0', env: { SIM_EXIT_AFTER: '10ms', SIM_EXIT_CODE: '3' } }), sink);
    expect(await batch.exited).toEqual({ exitCode: 3, signal: null });
    expect(output.at(-1)).toBe('stderr: sim: work done, exiting with code 3\n');
    const done = await container.start(startOf('alloc-0007', { name: 'train-1', env: { SIM_EXIT_AFTER: '0ms' } }), sink);
    expect(await done.exited).toEqual({ exitCode: 0, signal: null });

    await expect(container.start(startOf('alloc-0008', { env: { SIM_START_ERROR: 'image ghcr.io/x not found' } }), sink)).rejects.toThrow(
      'llama/web-0 could not start: image ghcr.io/x not found',
    );
    await expect(container.start(startOf('alloc-0009', { env: { SIM_HEALTH: 'sometimes' } }), sink)).rejects.toThrow(
      /SIM_HEALTH 'sometimes' is not pass or fail/,
    );
    expect(workloads.list().map((a) => a.allocId)).toEqual(['alloc-0005']);
  });

  it('refuses garbage in every SIM_* variable with a message naming it', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ SIM_START_DELAY: 'soon' }, /SIM_START_DELAY 'soon' is not a duration/],
      [{ SIM_START_DELAY: '2h' }, /SIM_START_DELAY '2h' is not a duration of at most 1h/],
      [{ SIM_START_DELAY: '-1s' }, /SIM_START_DELAY/],
      [{ SIM_EXIT_AFTER: '1 fortnight' }, /SIM_EXIT_AFTER/],
      [{ SIM_EXIT_AFTER: '1s', SIM_EXIT_CODE: '256' }, /SIM_EXIT_CODE '256' is not an exit code from 0 to 255/],
      [{ SIM_EXIT_AFTER: '1s', SIM_EXIT_CODE: '-1' }, /SIM_EXIT_CODE/],
      [{ SIM_EXIT_AFTER: '1s', SIM_EXIT_CODE: '1.5' }, /SIM_EXIT_CODE/],
      [{ SIM_EXIT_CODE: '1' }, /SIM_EXIT_CODE needs SIM_EXIT_AFTER/],
      [{ SIM_HEALTH: 'FAIL' }, /SIM_HEALTH 'FAIL' is not pass or fail/],
      [{ SIM_HEALTH: '' }, /SIM_HEALTH '' is not pass or fail/],
      [{ SIM_START_ERROR: '  ' }, /SIM_START_ERROR is empty/],
    ];
    for (const [env, why] of bad) expect(() => simBehavior(env), JSON.stringify(env)).toThrow(why);
    expect(simBehavior({ OTHER: 'x' })).toEqual({ startDelayMs: null, startError: null, exitAfterMs: null, exitCode: 0, health: 'pass' });
    expect(simBehavior({ SIM_START_DELAY: '1.5s', SIM_EXIT_AFTER: '2s', SIM_EXIT_CODE: '0', SIM_HEALTH: 'pass' })).toEqual({
      startDelayMs: 1500,
      startError: null,
      exitAfterMs: 2000,
      exitCode: 0,
      health: 'pass',
    });
  });

  it('finds the newest running instance of a name; ids and names it does not know are not found', async () => {
    const { workloads, sink } = rig();
    const [other] = workloads.executorsFor('sim-h100-002') as [WorkloadExecutor];
    const [here] = workloads.executorsFor('sim-h100-001') as [WorkloadExecutor];
    // The replaced allocation still runs on a host that was cut off; its replacement runs elsewhere.
    await here.start(startOf('alloc-old1'), sink);
    await other.start(startOf('alloc-new1'), sink);
    expect(workloads.find('llama/web-0')).toMatchObject({ allocId: 'alloc-new1', hostname: 'sim-h100-002' });
    expect(workloads.find('alloc-old1').hostname).toBe('sim-h100-001');
    expect(workloads.list('sim-h100-001').map((a) => a.allocId)).toEqual(['alloc-old1']);
    workloads.crash('alloc-new1', 1);
    expect(workloads.find('llama/web-0').allocId).toBe('alloc-old1');
    for (const ref of ['llama/web-9', 'nobody', '', 'x'.repeat(201)])
      expect(() => workloads.find(ref), ref).toThrow(
        ref === '' || ref.length > 200 ? /named by its id or as job\/name/ : /no running simulated allocation .*running: llama\/web-0/,
      );
  });

  it('hands a running instance to an agent that restarted on the same host, and cleans up stopped ones', async () => {
    const { workloads, sink, container, process } = rig();
    const w = await container.start(startOf('alloc-0010'), sink);
    const later: string[] = [];
    const [elsewhere] = workloads.executorsFor('sim-h100-002') as [WorkloadExecutor];
    expect(await elsewhere.adopt('alloc-0010', sink)).toBeNull();
    expect(await process.adopt('alloc-0010', sink)).toBeNull();
    expect(await container.adopt('alloc-9999', sink)).toBeNull();
    const adopted = await container.adopt('alloc-0010', (_stream, d) => later.push(d));
    expect(adopted).toBe(w);
    workloads.crash('alloc-0010', 2);
    expect(later).toEqual(['sim: crashed with exit code 2\n']);
    expect(await container.adopt('alloc-0010', sink)).toBeNull();
    await elsewhere.cleanup('alloc-0010');
    expect(workloads.list()).toEqual([]);
    await container.cleanup('alloc-0010');
    await container.start(startOf('alloc-0010'), sink);
    // Cleaned up: the next start counts from 1 again.
    expect(workloads.find('alloc-0010').starts).toBe(1);
  });

  it('draws start delays from the seed: the same seed gives the same delays', () => {
    const a = new SimWorkloads({ seed: 7 });
    const b = new SimWorkloads({ seed: 7 });
    const c = new SimWorkloads({ seed: 8 });
    const delays = (w: SimWorkloads) => Array.from({ length: 20 }, (_, i) => w.startDelayMs(`alloc-${i}`, 1 + (i % 3)));
    expect(delays(a)).toEqual(delays(b));
    expect(delays(a)).not.toEqual(delays(c));
    for (const d of delays(a)) expect(d >= 5 && d <= 50, String(d)).toBe(true);
    for (const bad of [
      { min: -1, max: 5 },
      { min: 10, max: 5 },
      { min: 0, max: 60_001 },
      { min: Number.NaN, max: 5 },
    ])
      expect(() => new SimWorkloads({ seed: 1, startDelayMs: bad }), JSON.stringify(bad)).toThrow(/start delay must be/);
  });

  it('holds 10,000 hosts each running an allocation in one process', async () => {
    const { workloads, sink } = rig();
    const hosts = Array.from({ length: 10_000 }, (_, i) => workloads.executorsFor(`sim-h100-${String(i + 1).padStart(5, '0')}`)[0]!);
    await Promise.all(hosts.map((x, i) => x.start(startOf(`alloc-${String(i).padStart(6, '0')}`, { name: `web-${i}` }), sink)));
    expect(workloads.running).toBe(10_000);
    expect(workloads.started).toBe(10_000);
    expect(workloads.find('llama/web-9999').hostname).toBe('sim-h100-10000');
    expect(() => workloads.find('llama/web-10000')).toThrow(/\.\.\. 10000 in all/);
  });
});

describe('SimWorkloads: a host switched off', () => {
  it('kills what runs there (SIGKILL, no output), forgets it, and says what was running', async () => {
    const { workloads, output, sink, container } = rig();
    const [, other] = workloads.executorsFor('sim-h100-002') as [WorkloadExecutor, WorkloadExecutor];
    const a = await container.start(startOf('alloc-a', { name: 'web-0' }), sink);
    await container.start(startOf('alloc-b', { name: 'web-1' }), sink);
    await other.start(startOf('alloc-c', { name: 'web-2' }), sink);
    const lines = output.length;
    const killed = workloads.powerOff('sim-h100-001');
    expect(killed.map((x) => x.allocId).sort()).toEqual(['alloc-a', 'alloc-b']);
    expect(await a.exited).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(output).toHaveLength(lines);
    expect(() => workloads.find('alloc-a')).toThrow(FleetError);
    expect(workloads.list().map((x) => x.allocId)).toEqual(['alloc-c']);
    expect(workloads.powerOff('sim-h100-001')).toEqual([]);
  });
});
