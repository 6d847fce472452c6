import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetError, xidDescription } from '@gpufleet/protocol';
import { CounterWatch, parseKernelLine, type CounterEvent } from '@gpufleet/agent';
import { readFixture } from '../../../agent/src/testing/fixtures.js';
import { FakeHardwareBackend } from '../fake-backend.js';
import type { SimGpuModel } from '../gpu-models.js';
import { FaultInjector, type FaultTarget } from './fault-injector.js';
import { FaultSpec } from './fault-spec.js';
import { NVIDIA_TOOL_FAILURES } from './tool-messages.js';

const T0 = Date.UTC(2025, 2, 3, 10, 0, 0);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fleet of fake hosts on a manual clock, each with a kernel log file; no server, no agents. */
function rig(models: SimGpuModel[] = ['H100', 'L40S', 'MI300X'], seed: string | number = 7) {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-faults-'));
  dirs.push(dir);
  const clock = { t: T0, now: () => clock.t };
  const hosts = models.map((model, i) => {
    const hostname = `sim-${model.toLowerCase()}-00${i + 1}`;
    const kernelLogPath = join(dir, `${hostname}.log`);
    writeFileSync(kernelLogPath, '');
    return { hostname, model, backend: new FakeHardwareBackend({ hostname, model, seed, clock }), kernelLogPath, link: null };
  });
  const crashed: string[] = [];
  const restarted: string[] = [];
  const fleet: FaultTarget = {
    host: (name) => {
      const h = hosts.find((x) => x.hostname === name);
      if (!h) throw new FleetError('not_found', `no simulated host '${name}'`);
      return h;
    },
    crashAgent: async (name) => void crashed.push(name),
    restartAgent: async (name) => void restarted.push(name),
  };
  const injector = new FaultInjector({ fleet, seed });
  const log = (i = 0) => readFileSync(hosts[i]!.kernelLogPath, 'utf8').split('\n').filter(Boolean);
  return { dir, clock, hosts, fleet, injector, log, crashed, restarted };
}

function errorOf(fn: () => unknown): FleetError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError);
    return err as FleetError;
  }
  throw new Error('expected an error');
}

describe('XID and SXid injection', () => {
  it("appends a real XID line about the GPU to that host's kernel log, text from the catalog", () => {
    const { injector, hosts, log } = rig();
    const gpu3 = hosts[0]!.backend.gpuIds()[3]!;
    const r = injector.xid('sim-h100-001', 3, 79);
    expect(log()).toEqual(r.lines);
    const ev = parseKernelLine(r.lines[0]!);
    expect(ev).toMatchObject({ kind: 'xid', code: 79, pciBusId: gpu3.pciBusId, pid: null, process: null });
    expect(ev!.message).toBe(`${xidDescription(79)}.`);
    expect(r.lines[0]).toMatch(/^\[\s*\d+\.\d{6}\] NVRM: Xid \(PCI:0000:[0-9a-f]{2}:00\): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus\.$/);
    // The kernel clock is the host's uptime.
    const uptime = Number(/^\[\s*(\d+\.\d+)\]/.exec(r.lines[0]!)![1]) * 1000;
    expect(Math.abs(uptime - hosts[0]!.backend.uptimeMs())).toBeLessThan(1);
  });

  it('names a process for application faults, none for hardware faults', () => {
    const { injector } = rig();
    const app = parseKernelLine(injector.xid('sim-h100-001', 0, 13).lines[0]!);
    expect(app!.pid).toBeGreaterThan(999);
    expect(app!.process).toMatch(/^[\w.-]+$/);
    const hw = parseKernelLine(injector.xid('sim-h100-001', 0, 48).lines[0]!);
    expect(hw).toMatchObject({ pid: null, process: null, code: 48 });
  });

  it('writes the same lines for the same seed and clock, other pids for another seed', () => {
    const a = rig(['H100'], 11);
    const b = rig(['H100'], 11);
    const c = rig(['H100'], 12);
    const play = (r: ReturnType<typeof rig>) =>
      [13, 31, 79, 13].map((code, i) => ((r.clock.t = T0 + i * 1000), r.injector.xid('sim-h100-001', i, code).lines[0]));
    const la = play(a);
    expect(play(b)).toEqual(la);
    expect(play(c)).not.toEqual(la);
    expect(a.log()).toEqual(la);
  });

  it('writes SXid lines for a switch of an HGX host and refuses hosts without NVSwitches', () => {
    const { injector } = rig();
    const r = injector.sxid('sim-h100-001', 20034, { switchIndex: 2 });
    expect(parseKernelLine(r.lines[0]!)).toMatchObject({ kind: 'sxid', code: 20034, pciBusId: '0000:07:00.0' });
    expect(r.lines[0]).toMatch(/nvidia-nvswitch2: SXid \(PCI:0000:07:00\.0\): 20034, Fatal, Link \d+ LTSSM Fault Up$/);
    expect(errorOf(() => injector.sxid('sim-l40s-002', 20034)).message).toMatch(/without NVSwitches/);
    expect(errorOf(() => injector.sxid('sim-h100-001', 20034, { switchIndex: 4 })).message).toMatch(/NVSwitches 0 to 3/);
  });

  it('refuses NVIDIA driver lines on AMD hosts, unknown hosts and GPUs', () => {
    const { injector } = rig();
    expect(errorOf(() => injector.xid('sim-mi300x-003', 0, 79)).message).toMatch(/amd GPUs/);
    expect(errorOf(() => injector.xid('nope', 0, 79)).code).toBe('not_found');
    expect(errorOf(() => injector.xid('sim-h100-001', 8, 79)).message).toMatch(/GPUs 0 to 7, not 8/);
  });
});

describe('reading faults', () => {
  it('ECC storm: corrected errors jump, then uncorrected ones rise; the agent counter watch reports both', async () => {
    const { injector, hosts, clock } = rig();
    const b = hosts[0]!.backend;
    const watch = new CounterWatch();
    const events: CounterEvent[] = [];
    const sample = async () => (await b.gpus()).snapshots;
    watch.observe(await sample());
    injector.eccStorm('sim-h100-001', 2, { durationMs: 4000, corrected: 8000, uncorrected: 3 });
    const seen: Array<[number | null, number | null]> = [];
    for (let t = 0; t <= 5000; t += 500) {
      clock.t = T0 + t;
      const snaps = await sample();
      seen.push([snaps[2]!.eccCorrectedVolatile, snaps[2]!.eccUncorrectedVolatile]);
      events.push(...watch.observe(snaps));
      // Other GPUs stay clean.
      expect(snaps[1]!.eccCorrectedVolatile).toBe(0);
    }
    expect(seen[0]).toEqual([0, 0]);
    expect(seen[2]![0]).toBeGreaterThan(3000); // the jump: most corrected errors in the first half
    expect(seen[2]![1]).toBe(0);
    expect(seen.at(-1)).toEqual([8000, 3]);
    for (let i = 1; i < seen.length; i++) expect(seen[i]![1]!).toBeGreaterThanOrEqual(seen[i - 1]![1]!);
    expect(events.some((e) => e.counter === 'ecc.corrected.volatile')).toBe(true);
    expect(events.filter((e) => e.counter === 'ecc.uncorrected.volatile').length).toBeGreaterThan(0);
    expect(events.every((e) => e.index === 2)).toBe(true);
  });

  it('row remap: pending or failure flags, and XID 63/64 when asked', async () => {
    const { injector, hosts, log } = rig();
    injector.rowRemap('sim-h100-001', 1, 'pending');
    let g = (await hosts[0]!.backend.gpus()).snapshots[1]!;
    expect([g.remappedRowsPending, g.remappedRowsFailure]).toEqual([true, false]);
    const r = injector.rowRemap('sim-h100-001', 1, 'failure', { xid: true });
    g = (await hosts[0]!.backend.gpus()).snapshots[1]!;
    expect([g.remappedRowsPending, g.remappedRowsFailure, g.remappedRowsUncorrectable]).toEqual([false, true, 1]);
    expect(parseKernelLine(log()[0]!)?.code).toBe(64);
    expect(r.kind).toBe('row-remap');
    expect(errorOf(() => injector.rowRemap('sim-mi300x-003', 0, 'failure')).message).toMatch(/no row remapping/);
  });

  it('thermal ramp: rises to the target over the ramp, holds, then returns to natural readings', async () => {
    const { injector, hosts, clock } = rig();
    const b = hosts[0]!.backend;
    const temp = async () => (await b.gpus()).snapshots[4]!.temperatureC!;
    const before = await temp();
    injector.thermalRamp('sim-h100-001', 4, { targetC: 92, rampMs: 10_000, holdMs: 5000 });
    const ramp: number[] = [];
    for (let t = 0; t <= 10_000; t += 2000) {
      clock.t = T0 + t;
      ramp.push(await temp());
    }
    expect(ramp[0]).toBe(before);
    for (let i = 1; i < ramp.length; i++) expect(ramp[i]!).toBeGreaterThanOrEqual(ramp[i - 1]!);
    expect(ramp.at(-1)).toBe(92);
    clock.t = T0 + 14_000;
    expect(await temp()).toBe(92);
    clock.t = T0 + 15_001;
    expect(await temp()).toBeLessThan(80);
    injector.clear('sim-h100-001', 4);
    expect(hosts[0]!.backend.readingFaults(4)).toEqual({});
  });

  it('falls off the bus: XID 79 in the log and the GPU gone from the readout', async () => {
    const { injector, hosts, log } = rig();
    injector.fallOffBus('sim-h100-001', 5);
    expect(parseKernelLine(log()[0]!)).toMatchObject({ kind: 'xid', code: 79, pciBusId: hosts[0]!.backend.gpuIds()[5]!.pciBusId });
    const r = await hosts[0]!.backend.gpus();
    expect(r.snapshots.map((s) => s.index)).toEqual([0, 1, 2, 3, 4, 6, 7]);
    expect(r.failures).toEqual([]);
    injector.clear('sim-h100-001');
    expect((await hosts[0]!.backend.gpus()).snapshots).toHaveLength(8);
  });

  it('falls off the bus in the three-line form, with the tool failing as nvidia-smi does', async () => {
    const { injector, hosts, log } = rig();
    injector.fallOffBus('sim-h100-001', 0, { form: 'multiline', toolFails: true });
    const lines = log();
    expect(lines).toHaveLength(3);
    expect(parseKernelLine(lines.join('\n'))).toMatchObject({ kind: 'fallen-off-bus', code: 79 });
    const r = await hosts[0]!.backend.gpus();
    expect(r.failures[0]!.message).toMatch(/^Unable to determine the device handle for GPU 0000:[0-9A-F]{2}:00\.0: Unknown Error$/);
  });
});

describe('tool failures, crashes and link cuts', () => {
  it('uses the recorded nvidia-smi messages, and restores the tool after the duration', async () => {
    const recorded = readFixture('nvidia', 'nvidia-smi_error_outputs.txt');
    for (const template of Object.values(NVIDIA_TOOL_FAILURES)) {
      const pattern = new RegExp(
        `^${template
          .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          .replace('\\{pci\\}', 'GPU ?[0-9A-F]{4}:[0-9A-F]{2}:[0-9A-F]{2}\\.\\d')
          .replace('GPU GPU', 'GPU')}$`,
        'm',
      );
      expect(recorded, template).toMatch(pattern);
    }
    const { injector, hosts } = rig();
    const r = injector.toolFailure('sim-h100-001', { failure: 'driver-mismatch', durationMs: 30 });
    expect(r.summary).toContain('Failed to initialize NVML: Driver/library version mismatch');
    expect((await hosts[0]!.backend.gpus()).failures[0]!.message).toBe('Failed to initialize NVML: Driver/library version mismatch');
    await injector.settle(2000);
    expect((await hosts[0]!.backend.gpus()).failures).toEqual([]);
    expect(errorOf(() => injector.toolFailure('sim-mi300x-003')).message).toMatch(/give the message text/);
    injector.toolFailure('sim-mi300x-003', { message: 'rocm-smi: command failed' });
    expect((await hosts[2]!.backend.gpus()).failures[0]!.tool).toBe('rocm-smi');
  });

  it('crashes an agent and restarts it after the delay; a drop needs a link proxy', async () => {
    const { injector, crashed, restarted } = rig();
    await injector.crashAgent('sim-h100-001', { restartAfterMs: 20 });
    expect(crashed).toEqual(['sim-h100-001']);
    expect(restarted).toEqual([]);
    await injector.settle(2000);
    expect(restarted).toEqual(['sim-h100-001']);
    expect(errorOf(() => injector.networkDrop('sim-h100-001', 100)).code).toBe('failed_precondition');
    expect(injector.history.map((h) => h.kind)).toEqual(['agent-crash']);
  });

  it('dispose cancels scheduled restores', async () => {
    const { injector, hosts } = rig();
    injector.toolFailure('sim-h100-001', { failure: 'no-devices', durationMs: 50 });
    await injector.dispose();
    await new Promise((r) => setTimeout(r, 80));
    expect(hosts[0]!.backend.toolFailure).toBe('No devices were found');
  });
});

describe('fault specs (scenario events)', () => {
  it('parses every kind and applies it through inject()', async () => {
    const { injector, hosts } = rig();
    const specs = [
      { inject: 'xid', host: 'sim-h100-001', gpu: 1, code: 13 },
      { inject: 'sxid', host: 'sim-h100-001', code: 20034 },
      { inject: 'ecc-storm', host: 'sim-h100-001', gpu: 2, duration: '1s' },
      { inject: 'row-remap', host: 'sim-h100-001', gpu: 3, state: 'failure' },
      { inject: 'thermal', host: 'sim-h100-001', gpu: 4, target: 90, ramp: '500ms' },
      { inject: 'fall-off-bus', host: 'sim-h100-001', gpu: 5 },
      { inject: 'tool-failure', host: 'sim-l40s-002', failure: 'gpu-lost', gpu: 1 },
      { inject: 'agent-crash', host: 'sim-h100-001' },
      { inject: 'clear', host: 'sim-l40s-002' },
    ];
    for (const s of specs) {
      const parsed = FaultSpec.parse(s);
      const r = await injector.inject(parsed);
      expect(r.hostname).toBe(s.host);
    }
    expect(injector.history.map((h) => h.kind)).toEqual([
      'xid',
      'sxid',
      'ecc-storm',
      'row-remap',
      'thermal',
      'fall-off-bus',
      'tool-failure',
      'agent-crash',
      'clear',
    ]);
    expect(hosts[0]!.backend.readingFaults(4).thermal?.targetC).toBe(90);
  });

  it('refuses garbage with messages that say what is wrong', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ inject: 'meteor', host: 'h' }, /inject must be one of xid, sxid/],
      [{ inject: 'xid', host: 'h', gpu: 0 }, /code/],
      [{ inject: 'xid', host: 'h', gpu: -1, code: 79 }, /gpu|>=0|too small/i],
      [{ inject: 'ecc-storm', host: 'h', gpu: 0, duration: '2 weeks' }, /not a duration/],
      [{ inject: 'network-drop', host: 'h' }, /duration/],
      [{ inject: 'xid', host: 'h', gpu: 0, code: 79, colour: 'red' }, /colour/],
      [null, /expected object|Invalid input/],
    ];
    for (const [value, why] of bad) {
      const r = FaultSpec.safeParse(value);
      expect(r.success, JSON.stringify(value)).toBe(false);
      const text = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      expect(text, JSON.stringify(value)).toMatch(why);
    }
  });
});
