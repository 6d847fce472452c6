import { describe, expect, it } from 'vitest';
import { FakeHardwareBackend } from '../fake-backend.js';
import type { SimGpuModel } from '../gpu-models.js';
import { faultHost, type FaultSpec } from './fault-spec.js';
import { RandomFaults } from './random-faults.js';

const clock = { now: () => Date.UTC(2026, 0, 1) };
const host = (model: SimGpuModel, n: number, kernelLog = true) => {
  const hostname = `sim-${model.toLowerCase()}-00${n}`;
  return { hostname, model, kernelLogPath: kernelLog ? `/tmp/${hostname}.log` : null, backend: new FakeHardwareBackend({ hostname, model, seed: 1, clock }) };
};

function schedule(hosts: ReturnType<typeof host>[], seed = 1, extra: { intervalMs?: number; recoverAfterMs?: number } = {}) {
  const seen: FaultSpec[] = [];
  const faults = new RandomFaults({
    hosts: () => hosts,
    seed,
    intervalMs: extra.intervalMs ?? 60_000,
    recoverAfterMs: extra.recoverAfterMs ?? 60_000,
    injector: {
      inject: async (spec) => {
        seen.push(spec);
        return { at: 0, hostname: faultHost(spec)!, kind: spec.inject, summary: spec.inject, lines: [], writtenAt: 0 };
      },
    },
  });
  return { faults, seen };
}

describe('RandomFaults', () => {
  it('picks hosts, GPUs and kinds from the seed: the same seed, the same faults', async () => {
    const fleet = [host('H100', 1), host('A100', 1), host('L40S', 1), host('MI300X', 1)];
    const a = schedule(fleet, 7);
    const b = schedule(fleet, 7);
    const c = schedule(fleet, 8);
    for (let i = 0; i < 40; i++) {
      await a.faults.injectOne();
      await b.faults.injectOne();
      await c.faults.injectOne();
    }
    a.faults.stop();
    b.faults.stop();
    c.faults.stop();
    const injected = a.seen.filter((s) => s.inject !== 'clear');
    expect(injected).toHaveLength(40);
    expect(b.seen).toEqual(a.seen);
    expect(c.seen).not.toEqual(a.seen);
    expect(new Set(injected.map((s) => faultHost(s))).size).toBeGreaterThan(2);
    expect(new Set(injected.map((s) => s.inject)).size).toBeGreaterThan(2);
    // AMD hosts get only what fits them: no NVIDIA kernel lines.
    for (const s of injected.filter((x) => faultHost(x)!.includes('mi300x'))) expect(s.inject).toBe('thermal');
  });

  it('fits faults to the hosts: no kernel log, no XID; no host with GPUs, no fault', async () => {
    const noLog = schedule([host('H100', 1, false)]);
    for (let i = 0; i < 20; i++) await noLog.faults.injectOne();
    noLog.faults.stop();
    expect(noLog.seen.every((s) => s.inject === 'thermal' || s.inject === 'ecc-storm')).toBe(true);
    const empty = schedule([]);
    expect(await empty.faults.injectOne()).toBeNull();
  });

  it('runs on its interval until stopped, and the hardware recovers afterwards', async () => {
    const { faults, seen } = schedule([host('H100', 1)], 1, { intervalMs: 100, recoverAfterMs: 50 });
    faults.start();
    await new Promise((r) => setTimeout(r, 450));
    faults.stop();
    const count = seen.length;
    expect(seen.filter((s) => s.inject !== 'clear').length).toBeGreaterThanOrEqual(2);
    expect(seen.some((s) => s.inject === 'clear')).toBe(true);
    await new Promise((r) => setTimeout(r, 250));
    expect(seen.length).toBe(count);
  });

  it('refuses an interval that would flood the fleet', () => {
    expect(() => schedule([], 1, { intervalMs: 5 })).toThrow(/at least 100 ms/);
    expect(() => schedule([], 1, { intervalMs: Number.NaN })).toThrow(/at least 100 ms/);
  });
});
