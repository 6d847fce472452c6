import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetError, type GroupSpec } from '@gpufleet/protocol';
import type { ExecutorStart, RunningWorkload } from '@gpufleet/agent';
import { FakeHardwareBackend } from '../fake-backend.js';
import { SimWorkloads } from '../workloads/sim-workloads.js';
import { FaultInjector, type FaultTarget } from './fault-injector.js';
import { FaultSpec } from './fault-spec.js';

/*
 * Faults on allocations, and host faults aimed at an allocation: the fake workloads of a fleet
 * of two fake hosts (no server, no agents), reached by job/name or id.
 */

const T0 = Date.UTC(2025, 2, 3, 10, 0, 0);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const spec: GroupSpec = {
  count: 2,
  executor: 'container',
  image: 'busybox',
  env: {},
  resources: { gpus: 1 },
  restart: { attempts: 1, within: 60_000, delay: 0 },
  stop_grace: 1000,
};

function rig() {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-alloc-faults-'));
  dirs.push(dir);
  const clock = { t: T0, now: () => clock.t };
  const hosts = ['sim-h100-001', 'sim-h100-002'].map((hostname) => {
    const kernelLogPath = join(dir, `${hostname}.log`);
    writeFileSync(kernelLogPath, '');
    return { hostname, model: 'H100' as const, backend: new FakeHardwareBackend({ hostname, model: 'H100', seed: 3, clock }), kernelLogPath, link: null };
  });
  const workloads = new SimWorkloads({ seed: 3, clock, startDelayMs: { min: 0, max: 0 } });
  const crashed: string[] = [];
  const fleet: FaultTarget = {
    host: (name) => {
      const h = hosts.find((x) => x.hostname === name);
      if (!h) throw new FleetError('not_found', `no simulated host '${name}'`);
      return h;
    },
    crashAgent: async (name) => void crashed.push(name),
    restartAgent: async () => undefined,
    workloads,
  };
  const injector = new FaultInjector({ fleet, seed: 3 });
  /** Starts `web-N` of job llama on a host's GPU, as the agent's supervisor would. */
  const start = (hostname: string, allocId: string, name: string, gpu: number): Promise<RunningWorkload> => {
    const ids = hosts.find((h) => h.hostname === hostname)!.backend.gpuIds()[gpu]!;
    const s: ExecutorStart = {
      allocId,
      job: 'llama',
      name,
      group: 'web',
      jobVersion: 1,
      specHash: 'b'.repeat(64),
      spec,
      gpus: [{ index: gpu, uuid: ids.uuid, vendor: 'nvidia', pciBusId: ids.pciBusId }],
      env: {},
    };
    return workloads.executorsFor(hostname)[0]!.start(s, () => undefined);
  };
  const log = (i: number) => readFileSync(hosts[i]!.kernelLogPath, 'utf8').split('\n').filter(Boolean);
  return { hosts, clock, workloads, fleet, injector, start, log, crashed };
}

describe('allocation faults', () => {
  it('alloc-crash: the workload exits with the code (default 1), by job/name or by id', async () => {
    const { injector, start } = rig();
    const w0 = await start('sim-h100-002', 'alloc-aaaa0001', 'web-0', 5);
    const w1 = await start('sim-h100-001', 'alloc-aaaa0002', 'web-1', 2);
    const r = await injector.inject(FaultSpec.parse({ inject: 'alloc-crash', alloc: 'llama/web-0', exitCode: 137 }));
    expect(r).toMatchObject({ hostname: 'sim-h100-002', kind: 'alloc-crash', summary: 'llama/web-0 (alloc-aaaa0001) crashed with exit code 137', lines: [] });
    expect(r.at).toBe(T0);
    expect(await w0.exited).toEqual({ exitCode: 137, signal: null });
    await injector.inject(FaultSpec.parse({ inject: 'alloc-crash', alloc: 'alloc-aaaa0002' }));
    expect(await w1.exited).toEqual({ exitCode: 1, signal: null });
    // Nothing of that name runs any more.
    await expect(injector.inject(FaultSpec.parse({ inject: 'alloc-crash', alloc: 'llama/web-0' }))).rejects.toThrow(
      /no running simulated allocation 'llama\/web-0'/,
    );
  });

  it('alloc-unhealthy: its health checks fail for the duration, or until the host is cleared', async () => {
    const { injector, start, clock } = rig();
    const w = await start('sim-h100-001', 'alloc-bbbb0001', 'web-0', 0);
    const r = await injector.inject(FaultSpec.parse({ inject: 'alloc-unhealthy', alloc: 'llama/web-0', duration: '2s' }));
    expect(r.summary).toBe('llama/web-0 (alloc-bbbb0001) fails its health checks for 2000 ms');
    expect(await w.simulatedHealth!()).toBe(false);
    clock.t += 2000;
    expect(await w.simulatedHealth!()).toBe(true);
    await injector.inject(FaultSpec.parse({ inject: 'alloc-unhealthy', alloc: 'alloc-bbbb0001' }));
    clock.t += 86_400_000;
    expect(await w.simulatedHealth!()).toBe(false);
    // Clearing one GPU leaves the allocation's health alone; clearing the host ends it.
    expect((await injector.inject(FaultSpec.parse({ inject: 'clear', host: 'sim-h100-001', gpu: 0 }))).summary).toBe('faults cleared on GPU 0');
    expect(await w.simulatedHealth!()).toBe(false);
    const cleared = await injector.inject(FaultSpec.parse({ inject: 'clear', host: 'sim-h100-001' }));
    expect(cleared.summary).toBe('faults cleared on every GPU, tool works, 1 allocation health failure ended');
    expect(await w.simulatedHealth!()).toBe(true);
  });

  it('a host fault aimed at an allocation lands on its host, and a GPU fault on its GPU', async () => {
    const { injector, start, log, hosts, crashed } = rig();
    await start('sim-h100-002', 'alloc-cccc0001', 'web-0', 6);
    const xid = await injector.inject(FaultSpec.parse({ inject: 'xid', alloc: 'llama/web-0', code: 79 }));
    expect(xid.hostname).toBe('sim-h100-002');
    expect(xid.summary).toBe('XID 79 on GPU 6 (where llama/web-0 runs)');
    expect(log(1)).toHaveLength(1);
    expect(log(1)[0]).toContain(`NVRM: Xid (PCI:${hosts[1]!.backend.gpuIds()[6]!.pciBusId.slice(0, -2)}): 79,`);
    expect(log(0)).toEqual([]);
    // gpu overrides the allocation's own.
    const other = await injector.inject(FaultSpec.parse({ inject: 'thermal', alloc: 'llama/web-0', gpu: 1, target: 95 }));
    expect(other.summary).toMatch(/^GPU 1 heating to 95 °C/);
    expect(hosts[1]!.backend.readingFaults(1).thermal?.targetC).toBe(95);
    const bus = await injector.inject(FaultSpec.parse({ inject: 'fall-off-bus', alloc: 'alloc-cccc0001' }));
    expect(bus.summary).toBe('GPU 6 fell off the bus (XID 79) (where alloc-cccc0001 runs)');
    await injector.inject(FaultSpec.parse({ inject: 'agent-crash', alloc: 'llama/web-0' }));
    expect(crashed).toEqual(['sim-h100-002']);
  });

  it('a fleet without workloads says so', async () => {
    const { fleet } = rig();
    const injector = new FaultInjector({ fleet: { ...fleet, workloads: null }, seed: 1 });
    for (const s of [
      { inject: 'alloc-crash', alloc: 'llama/web-0' },
      { inject: 'alloc-unhealthy', alloc: 'llama/web-0' },
      { inject: 'xid', alloc: 'llama/web-0', code: 79 },
    ]) {
      await expect(injector.inject(FaultSpec.parse(s)), JSON.stringify(s)).rejects.toThrow(/runs no workloads/);
    }
    // A host fault on a host still works.
    expect((await injector.inject(FaultSpec.parse({ inject: 'xid', host: 'sim-h100-001', gpu: 0, code: 13 }))).kind).toBe('xid');
  });

  it('refuses garbage allocation faults and targets with messages that say what is wrong', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ inject: 'alloc-crash' }, /alloc: expected an allocation/],
      [{ inject: 'alloc-crash', alloc: 'llama/' }, /alloc: expected an allocation: job\/name such as llama\/web-0, or its id/],
      [{ inject: 'alloc-crash', alloc: 'Llama/web-0' }, /alloc: expected an allocation/],
      [{ inject: 'alloc-crash', alloc: 'llama/web' }, /alloc: expected an allocation/],
      [{ inject: 'alloc-crash', alloc: 'short' }, /alloc: expected an allocation/],
      [{ inject: 'alloc-crash', alloc: 'llama/web-0/x' }, /alloc: expected an allocation/],
      [{ inject: 'alloc-crash', alloc: 42 }, /alloc: expected an allocation/],
      [{ inject: 'alloc-crash', alloc: 'llama/web-0', exitCode: 256 }, /exitCode/],
      [{ inject: 'alloc-crash', alloc: 'llama/web-0', exitCode: -1 }, /exitCode/],
      [{ inject: 'alloc-crash', alloc: 'llama/web-0', exitCode: 1.5 }, /exitCode/],
      [{ inject: 'alloc-crash', alloc: 'llama/web-0', exitCode: '1' }, /exitCode: expected an exit code/],
      [{ inject: 'alloc-crash', alloc: 'llama/web-0', host: 'sim-h100-001' }, /host/],
      [{ inject: 'alloc-unhealthy', alloc: 'llama/web-0', duration: 'a while' }, /duration: 'a while' is not a duration/],
      [{ inject: 'alloc-unhealthy', alloc: 'llama/web-0', code: 79 }, /code/],
      [{ inject: 'xid', code: 79, gpu: 0 }, /host: expected a hostname such as sim-h100-001 \(or alloc: job\/name/],
      [{ inject: 'xid', host: 'sim-h100-001', alloc: 'llama/web-0', code: 79 }, /alloc: give host or alloc, not both/],
      [{ inject: 'xid', host: 'sim-h100-001', code: 79 }, /gpu: expected a GPU index/],
      [{ inject: 'thermal', host: 'sim-h100-001', target: 90 }, /gpu: expected a GPU index/],
      [{ inject: 'network-drop', duration: '1s' }, /host: expected a hostname/],
      [{ inject: 'xid', alloc: 'llama/web-0', code: 79, gpu: 64 }, /gpu/],
    ];
    for (const [value, why] of bad) {
      const r = FaultSpec.safeParse(value);
      expect(r.success, JSON.stringify(value)).toBe(false);
      const text = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      expect(text, JSON.stringify(value)).toMatch(why);
    }
  });
});
