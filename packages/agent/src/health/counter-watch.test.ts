import { describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, gpuSampleOf, type GpuSnapshot, type ThrottleReason } from '@gpufleet/protocol';
import { CounterWatch, counterGpuKey, type CounterEvent } from './counter-watch.js';

function gpu(over: Partial<GpuSnapshot> = {}): GpuSnapshot {
  return {
    ...emptyGpuSnapshot('nvidia', 0),
    uuid: 'GPU-0',
    pciBusId: '0000:18:00.0',
    eccCorrectedVolatile: 0,
    eccUncorrectedVolatile: 0,
    eccUncorrectedAggregate: 0,
    retiredPagesPending: false,
    remappedRowsPending: false,
    remappedRowsFailure: false,
    ...over,
  };
}

const brief = (events: CounterEvent[]) => events.map((e) => [e.counter, e.previous, e.current]);

describe('CounterWatch', () => {
  it('takes a healthy first sample as the baseline: no events', () => {
    const w = new CounterWatch();
    expect(w.observe([gpuSampleOf(gpu({ eccCorrectedVolatile: 5000, eccUncorrectedAggregate: 3 }))])).toEqual([]);
  });

  it('reports what is bad in the first sample: volatile uncorrected ECC, flags, slowdowns', () => {
    const w = new CounterWatch();
    const events = w.observe([gpu({ eccUncorrectedVolatile: 2, remappedRowsPending: true, throttleReasons: ['hw_thermal_slowdown', 'sw_power_cap'] })]);
    expect(brief(events)).toEqual([
      ['ecc.uncorrected.volatile', null, 2],
      ['remapped_rows.pending', null, true],
      ['throttle.hw_thermal_slowdown', null, true],
    ]);
    expect(events[0]).toMatchObject({ gpuKey: 'GPU-0', gpuUuid: 'GPU-0', pciBusId: '0000:18:00.0', index: 0 });
  });

  it('reports uncorrected counts that rise, and not those that stay or drop', () => {
    const w = new CounterWatch();
    w.observe([gpu()]);
    expect(brief(w.observe([gpu({ eccUncorrectedVolatile: 1, eccUncorrectedAggregate: 1 })]))).toEqual([
      ['ecc.uncorrected.volatile', 0, 1],
      ['ecc.uncorrected.aggregate', 0, 1],
    ]);
    expect(w.observe([gpu({ eccUncorrectedVolatile: 1, eccUncorrectedAggregate: 1 })])).toEqual([]);
    // A reset clears the volatile count: new baseline, no event; the next rise is reported from it.
    expect(w.observe([gpu({ eccUncorrectedVolatile: 0, eccUncorrectedAggregate: 1 })])).toEqual([]);
    expect(brief(w.observe([gpu({ eccUncorrectedVolatile: 3, eccUncorrectedAggregate: 1 })]))).toEqual([['ecc.uncorrected.volatile', 0, 3]]);
  });

  it('reports corrected counts only when they jump by more than the threshold per sample', () => {
    const w = new CounterWatch({ correctedJump: 100 });
    w.observe([gpu({ eccCorrectedVolatile: 10 })]);
    expect(w.observe([gpu({ eccCorrectedVolatile: 110 })])).toEqual([]);
    expect(brief(w.observe([gpu({ eccCorrectedVolatile: 211 })]))).toEqual([['ecc.corrected.volatile', 110, 211]]);
    const strict = new CounterWatch({ correctedJump: 0 });
    strict.observe([gpu()]);
    expect(brief(strict.observe([gpu({ eccCorrectedVolatile: 1 })]))).toEqual([['ecc.corrected.volatile', 0, 1]]);
  });

  it('reports flags turning on and back off', () => {
    const w = new CounterWatch();
    w.observe([gpu()]);
    expect(brief(w.observe([gpu({ remappedRowsFailure: true, retiredPagesPending: true })]))).toEqual([
      ['retired_pages.pending', false, true],
      ['remapped_rows.failure', false, true],
    ]);
    expect(brief(w.observe([gpu({ remappedRowsFailure: false, retiredPagesPending: true })]))).toEqual([['remapped_rows.failure', true, false]]);
  });

  it('reports the four slowdown reasons starting and ending, and ignores the others', () => {
    const w = new CounterWatch();
    w.observe([gpu()]);
    const on: ThrottleReason[] = ['hw_slowdown', 'hw_power_brake_slowdown', 'sw_thermal_slowdown', 'sw_power_cap', 'gpu_idle'];
    expect(brief(w.observe([gpu({ throttleReasons: on })]))).toEqual([
      ['throttle.hw_slowdown', false, true],
      ['throttle.hw_power_brake_slowdown', false, true],
      ['throttle.sw_thermal_slowdown', false, true],
    ]);
    expect(brief(w.observe([gpu({ throttleReasons: ['hw_slowdown'] })]))).toEqual([
      ['throttle.hw_power_brake_slowdown', true, false],
      ['throttle.sw_thermal_slowdown', true, false],
    ]);
  });

  it('keeps the last known value when the tool stops reporting a counter', () => {
    const w = new CounterWatch();
    w.observe([gpu({ eccUncorrectedVolatile: 1 })]);
    expect(w.observe([gpu({ eccUncorrectedVolatile: null, remappedRowsPending: null })])).toEqual([]);
    expect(brief(w.observe([gpu({ eccUncorrectedVolatile: 2 })]))).toEqual([['ecc.uncorrected.volatile', 1, 2]]);
  });

  it('keeps GPUs apart by UUID, then PCI address, then index, whatever the order', () => {
    const w = new CounterWatch();
    const a = gpu({ uuid: 'GPU-a', index: 0 });
    const b = gpu({ uuid: 'GPU-b', index: 1, pciBusId: '0000:19:00.0' });
    w.observe([a, b]);
    const events = w.observe([
      { ...b, index: 0, eccUncorrectedVolatile: 1 },
      { ...a, index: 1 },
    ]);
    expect(events.map((e) => e.gpuKey)).toEqual(['GPU-b']);
    expect(counterGpuKey({ uuid: null, pciBusId: '00000000:19:00.0', index: 3 })).toBe('pci:0000:19:00.0');
    expect(counterGpuKey({ uuid: ' ', pciBusId: null, index: 3 })).toBe('index:3');
  });

  it('ignores garbage values and inputs', () => {
    const w = new CounterWatch();
    expect(w.observe(null as never)).toEqual([]);
    expect(w.observe([null, 5, 'x'] as never)).toEqual([]);
    w.observe([gpu()]);
    expect(
      w.observe([
        gpu({
          eccUncorrectedVolatile: Number.NaN as never,
          eccCorrectedVolatile: -5,
          remappedRowsFailure: 'yes' as never,
          throttleReasons: 'hw_slowdown' as never,
        }),
      ]),
    ).toEqual([]);
  });

  it('starts over after reset()', () => {
    const w = new CounterWatch();
    w.observe([gpu({ eccUncorrectedAggregate: 1 })]);
    w.reset();
    expect(w.observe([gpu({ eccUncorrectedAggregate: 5 })])).toEqual([]);
  });
});
