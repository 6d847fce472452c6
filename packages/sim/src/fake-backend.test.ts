import { describe, expect, it } from 'vitest';
import { GpuSnapshot, HostFacts, HostSample, isErrorCode } from '@gpufleet/protocol';
import { readFixture } from '../../agent/src/testing/fixtures.js';
import { FakeHardwareBackend } from './fake-backend.js';
import { GPU_MODELS, SIM_GPU_MODELS, type SimGpuModel } from './gpu-models.js';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

function clockAt(start: number) {
  const c = { t: start, now: () => c.t };
  return c;
}

function backend(model: SimGpuModel, seed: string | number = 42, hostname = 'sim-host-001', start = T0) {
  const clock = clockAt(start);
  return { clock, b: new FakeHardwareBackend({ hostname, model, seed, clock }) };
}

/** First capture of `re` in `text`, or a failing expectation naming it. */
function grab(text: string, re: RegExp): string {
  const m = re.exec(text);
  expect(m, String(re)).not.toBeNull();
  return m![1]!.trim();
}

describe('FakeHardwareBackend determinism', () => {
  it('gives identical outputs for the same seed and clock times', async () => {
    for (const model of SIM_GPU_MODELS) {
      const a = backend(model, 'fleet-a');
      const b = backend(model, 'fleet-a');
      for (const dt of [0, 10_000, 3_600_000, 86_400_000]) {
        a.clock.t = T0 + dt;
        b.clock.t = T0 + dt;
        expect(await a.b.gpus()).toEqual(await b.b.gpus());
        expect(await a.b.hostSample()).toEqual(await b.b.hostSample());
        expect(await a.b.hostFacts()).toEqual(await b.b.hostFacts());
      }
    }
  });

  it('does not depend on how often or in what order it is read', async () => {
    const a = backend('H100');
    const b = backend('H100');
    for (let i = 0; i < 50; i++) {
      a.clock.t = T0 + i * 1000;
      await a.b.gpus();
    }
    a.clock.t = T0 + 7_777_777;
    b.clock.t = T0 + 7_777_777;
    expect(await a.b.gpus()).toEqual(await b.b.gpus());
  });

  it('gives other identities and readings for another seed or hostname', async () => {
    const a = await backend('H100', 1).b.gpus();
    const b = await backend('H100', 2).b.gpus();
    const c = await backend('H100', 1, 'sim-host-002').b.gpus();
    expect(a.snapshots.map((s) => s.uuid)).not.toEqual(b.snapshots.map((s) => s.uuid));
    expect(a.snapshots.map((s) => s.uuid)).not.toEqual(c.snapshots.map((s) => s.uuid));
    expect(new Set([...a.snapshots, ...b.snapshots, ...c.snapshots].map((s) => s.uuid)).size).toBe(24);
  });

  it('keeps UUIDs and PCI bus ids stable over time, distinct and well formed', async () => {
    const { clock, b } = backend('H100');
    const first = await b.gpus();
    clock.t += 86_400_000;
    const later = await b.gpus();
    expect(later.snapshots.map((s) => [s.uuid, s.pciBusId])).toEqual(first.snapshots.map((s) => [s.uuid, s.pciBusId]));
    for (const s of first.snapshots) {
      expect(s.uuid).toMatch(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(s.pciBusId).toMatch(/^0000:[0-9a-f]{2}:00\.0$/);
    }
    const buses = first.snapshots.map((s) => s.pciBusId!);
    expect(new Set(buses).size).toBe(8);
    expect([...buses].sort()).toEqual(buses);
    const amd = await backend('MI300X').b.gpus();
    expect(amd.snapshots[0]!.uuid).toMatch(/^0x[0-9a-f]{16}$/);
  });
});

describe('FakeHardwareBackend readings', () => {
  it('produces snapshots, host samples and facts that pass the wire schemas', async () => {
    for (const model of SIM_GPU_MODELS) {
      const { clock, b } = backend(model);
      for (let i = 0; i < 200; i++) {
        clock.t = T0 + i * 97_000;
        for (const s of (await b.gpus()).snapshots) {
          expect(GpuSnapshot.safeParse(s).success).toBe(true);
          expect(s.utilizationPct!).toBeGreaterThanOrEqual(0);
          expect(s.utilizationPct!).toBeLessThanOrEqual(100);
          expect(s.powerDrawW!).toBeLessThanOrEqual(GPU_MODELS[model].powerLimitW);
          expect(s.memoryUsedBytes!).toBeLessThanOrEqual(s.memoryTotalBytes!);
        }
        expect(HostSample.safeParse(await b.hostSample()).success).toBe(true);
      }
      expect(HostFacts.safeParse(await b.hostFacts()).success).toBe(true);
    }
  });

  it('moves smoothly: 10 s apart, utilization and temperature change by small steps', async () => {
    const { clock, b } = backend('A100', 'smooth');
    let prev = (await b.gpus()).snapshots;
    let maxUtilStep = 0;
    let maxTempStep = 0;
    let utilRange = [100, 0];
    for (let i = 1; i <= 2000; i++) {
      clock.t = T0 + i * 10_000;
      const cur = (await b.gpus()).snapshots;
      for (let g = 0; g < cur.length; g++) {
        maxUtilStep = Math.max(maxUtilStep, Math.abs(cur[g]!.utilizationPct! - prev[g]!.utilizationPct!));
        maxTempStep = Math.max(maxTempStep, Math.abs(cur[g]!.temperatureC! - prev[g]!.temperatureC!));
        utilRange = [Math.min(utilRange[0]!, cur[g]!.utilizationPct!), Math.max(utilRange[1]!, cur[g]!.utilizationPct!)];
      }
      prev = cur;
    }
    expect(maxUtilStep).toBeLessThan(35);
    expect(maxTempStep).toBeLessThanOrEqual(5);
    // Over ~5.5 h it is neither stuck idle nor pinned at full.
    expect(utilRange[0]).toBeLessThan(10);
    expect(utilRange[1]).toBeGreaterThan(60);
  });

  it('heats up after load with a lag, and draws power with utilization', async () => {
    const { clock, b } = backend('H100', 'thermal');
    const points: { util: number; temp: number; power: number }[] = [];
    for (let i = 0; i < 3000; i++) {
      clock.t = T0 + i * 10_000;
      const s = (await b.gpus()).snapshots[0]!;
      points.push({ util: s.utilizationPct!, temp: s.temperatureC!, power: s.powerDrawW! });
    }
    const idle = points.filter((p) => p.util === 0);
    const busy = points.filter((p) => p.util > 80);
    expect(idle.length).toBeGreaterThan(10);
    expect(busy.length).toBeGreaterThan(10);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(busy.map((p) => p.power))).toBeGreaterThan(mean(idle.map((p) => p.power)) + 300);
    expect(mean(busy.map((p) => p.temp))).toBeGreaterThan(mean(idle.map((p) => p.temp)) + 15);
    // Lag: a GPU that has just gone idle after a busy stretch is still warmer than a few minutes later.
    const settle = points.findIndex(
      (p, i) =>
        i >= 60 &&
        p.util === 0 &&
        points[i - 1]!.util > 0 &&
        points.slice(i - 60, i).some((q) => q.util >= 50) &&
        points.slice(i, i + 19).every((q) => q.util === 0),
    );
    expect(settle).toBeGreaterThan(0);
    expect(points[settle]!.temp).toBeGreaterThan(points[settle + 18]!.temp);
  });

  it('marks its host facts as simulated', async () => {
    const facts = await backend('L40S').b.hostFacts();
    expect(facts.os).toEqual({ id: 'gpufleet-sim', name: 'gpufleet simulated host', version: '1' });
    expect(facts.kernel).toContain('sim');
    expect(facts.hostname).toBe('sim-host-001');
  });
});

describe('FakeHardwareBackend fault hooks', () => {
  it('setToolFailure hides the GPUs behind a tool failure until cleared', async () => {
    const { b } = backend('MI300X');
    b.setToolFailure('rocm-smi: amdgpu driver not loaded');
    expect(await b.gpus()).toEqual({
      snapshots: [],
      failures: [{ vendor: 'amd', tool: 'rocm-smi', message: 'rocm-smi: amdgpu driver not loaded', exitCode: 1 }],
    });
    b.setToolFailure(null);
    expect((await b.gpus()).snapshots).toHaveLength(8);
  });

  it('dropGpu removes one GPU by index, restoreGpu brings it back, a bad index is refused', async () => {
    const { b } = backend('H100');
    const all = (await b.gpus()).snapshots;
    b.dropGpu(3);
    const less = (await b.gpus()).snapshots;
    expect(less.map((s) => s.index)).toEqual([0, 1, 2, 4, 5, 6, 7]);
    expect(less.some((s) => s.uuid === all[3]!.uuid)).toBe(false);
    b.restoreGpu(3);
    expect((await b.gpus()).snapshots.map((s) => s.uuid)).toEqual(all.map((s) => s.uuid));
    expect(() => b.dropGpu(8)).toThrow(/has no GPU 8/);
  });

  it('refuses bad options with a clear error', () => {
    const clock = clockAt(T0);
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as { code: string; message: string };
      }
      throw new Error('expected a throw');
    };
    const bad = err(() => new FakeHardwareBackend({ hostname: 'h', model: 'V100' as SimGpuModel, seed: 1, clock }));
    expect(isErrorCode(bad.code)).toBe(true);
    expect(bad.message).toMatch(/unknown simulated GPU model 'V100'/);
    expect(err(() => new FakeHardwareBackend({ hostname: 'h', model: 'H100', gpuCount: 65, seed: 1, clock })).message).toMatch(/gpuCount/);
    expect(err(() => new FakeHardwareBackend({ hostname: '', model: 'H100', seed: 1, clock })).message).toMatch(/hostname/);
  });
});

describe('GPU model constants match the recorded fixtures', () => {
  const MiB = 2 ** 20;

  it('H100 from nvidia-smi -q (8x H100 SXM, 565.57.01)', () => {
    const text = readFixture('nvidia', 'nvidia-smi_-q__8x_H100_SXM_565.57.01__idle.txt');
    const h = GPU_MODELS.H100;
    expect(h.name).toBe(grab(text, /Product Name\s+:\s+(.+)/));
    expect(h.memoryTotalBytes).toBe(Number(grab(text, /FB Memory Usage\s+Total\s+:\s+(\d+) MiB/)) * MiB);
    expect(h.driverVersion).toBe(grab(text, /Driver Version\s+:\s+(\S+)/));
    expect(h.runtimeVersion).toBe(grab(text, /CUDA Version\s+:\s+(\S+)/));
    expect(h.vbiosVersion).toBe(grab(text, /VBIOS Version\s+:\s+(\S+)/));
    expect(h.powerLimitW).toBe(Number(grab(text, /Current Power Limit\s+:\s+([\d.]+) W/)));
    expect(h.maxSmClockMhz).toBe(Number(grab(text, /Max Clocks\s+Graphics\s+:\s+\d+ MHz\s+SM\s+:\s+(\d+) MHz/)));
    expect(h.idleSmClockMhz).toBe(Number(grab(text, /\n {4}Clocks\s+Graphics\s+:\s+\d+ MHz\s+SM\s+:\s+(\d+) MHz/)));
  });

  it('A100 from the nvidia-smi table (4x A100 SXM4, 555.42.02)', () => {
    const text = readFixture('nvidia', 'nvidia-smi_table__4x_A100_SXM4_555.42.02__idle.txt');
    const a = GPU_MODELS.A100;
    expect(a.name).toBe(grab(text, /\|\s+0\s+(NVIDIA \S+)/));
    expect(a.memoryTotalBytes).toBe(Number(grab(text, /\/\s+(\d+)MiB/)) * MiB);
    expect(a.driverVersion).toBe(grab(text, /Driver Version:\s+(\S+)/));
    expect(a.runtimeVersion).toBe(grab(text, /CUDA Version:\s+(\S+)/));
    expect(a.powerLimitW).toBe(Number(grab(text, /\d+W \/\s+(\d+)W/)));
  });

  it('L40S from nvidia-smi -q (595.80)', () => {
    const text = readFixture('nvidia', 'nvidia-smi_-q__nvidia-l40s__595.80__load.txt');
    const l = GPU_MODELS.L40S;
    expect(l.name).toBe(grab(text, /Product Name\s+:\s+(.+)/));
    expect(l.memoryTotalBytes).toBe(Number(grab(text, /FB Memory Usage\s+Total\s+:\s+(\d+) MiB/)) * MiB);
    expect(l.driverVersion).toBe(grab(text, /Driver Version\s+:\s+(\S+)/));
    expect(l.runtimeVersion).toBe(grab(text, /CUDA Version\s+:\s+(\S+)/));
    expect(l.vbiosVersion).toBe(grab(text, /VBIOS Version\s+:\s+(\S+)/));
    expect(l.powerLimitW).toBe(Number(grab(text, /Current Power Limit\s+:\s+([\d.]+) W/)));
    expect(l.maxSmClockMhz).toBe(Number(grab(text, /Max Clocks\s+Graphics\s+:\s+(\d+) MHz/)));
    expect(l.maxMemClockMhz).toBe(Number(grab(text, /Max Clocks\s+Graphics\s+:\s+\d+ MHz\s+SM\s+:\s+\d+ MHz\s+Memory\s+:\s+(\d+) MHz/)));
    expect(grab(text, /Memory Current Temp\s+:\s+(.+)/)).toBe('N/A');
    expect(l.memoryTempOffsetC).toBeNull();
  });

  it('MI300X from rocm-smi -a (4x MI300X)', () => {
    const text = readFixture('amd', 'rocm-smi_-a_text__4x_MI300X.txt');
    const m = GPU_MODELS.MI300X;
    expect(m.name).toBe(grab(text, /GPU\[0\]\s+: Card series:\s+(.+)/));
    expect(m.driverVersion).toBe(grab(text, /Driver version:\s+(\S+)/));
    expect(m.vbiosVersion).toBe(grab(text, /GPU\[0\]\s+: VBIOS version:\s+(\S+)/));
    expect(m.powerLimitW).toBe(Number(grab(text, /GPU\[0\]\s+: Max Graphics Package Power \(W\):\s+([\d.]+)/)));
    expect(m.maxSmClockMhz).toBe(Number(grab(text, /GPU\[0\]\s+: Valid sclk range:\s+\d+Mhz - (\d+)Mhz/)));
    expect(m.maxMemClockMhz).toBe(Number(grab(text, /GPU\[0\]\s+: Valid mclk range:\s+\d+Mhz - (\d+)Mhz/)));
    expect(m.idleMemClockMhz).toBe(Number(grab(text, /GPU\[0\]\s+: mclk clock level: \d+: \((\d+)Mhz\)/)));
  });

  it('simulated GPUs report exactly those constants', async () => {
    for (const model of SIM_GPU_MODELS) {
      const s = (await backend(model).b.gpus()).snapshots[0]!;
      const spec = GPU_MODELS[model];
      expect([s.name, s.memoryTotalBytes, s.driverVersion, s.powerLimitW, s.vbiosVersion]).toEqual([
        spec.name,
        spec.memoryTotalBytes,
        spec.driverVersion,
        spec.powerLimitW,
        spec.vbiosVersion,
      ]);
    }
  });
});

describe('FakeHardwareBackend PCIe replays', () => {
  it('counts replays on NVIDIA GPUs only, never going back, with most links clean', async () => {
    for (const model of SIM_GPU_MODELS) {
      const { clock, b } = backend(model, 'replays', 'sim-host-replay', T0);
      const before = (await b.gpus()).snapshots;
      clock.t = T0 + 6 * 3_600_000;
      const after = (await b.gpus()).snapshots;
      for (const [i, g] of after.entries()) {
        if (GPU_MODELS[model].vendor !== 'nvidia') {
          expect(g.pcieReplayCount, model).toBeNull(); // the other tools do not report it
          continue;
        }
        expect(Number.isInteger(g.pcieReplayCount)).toBe(true);
        expect(g.pcieReplayCount!).toBeGreaterThanOrEqual(before[i]!.pcieReplayCount!);
      }
    }
    const { b } = backend('H100', 'replays', 'sim-host-replay');
    const counts = (await b.gpus()).snapshots.map((g) => g.pcieReplayCount);
    expect(counts.filter((c) => c === 0).length).toBeGreaterThan(counts.length / 2);
  });
});
