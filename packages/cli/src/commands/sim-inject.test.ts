import { describe, expect, it } from 'vitest';
import { FaultSpec } from '@gpufleet/sim';
import { faultFromArgs } from './sim-inject.js';

/** What `gpufleet sim inject` sends for allocations, checked against the schema the control endpoint applies. */
describe('gpufleet sim inject: allocation faults', () => {
  const parsed = (target: string, kind: string, value?: string, flags: Record<string, unknown> = {}) => {
    const fault = faultFromArgs(target, kind, value, { dataDir: '.', ...flags });
    const r = FaultSpec.safeParse(fault);
    expect(r.success, JSON.stringify(fault)).toBe(true);
    return fault;
  };

  it('alloc-crash takes the exit code as its value, alloc-unhealthy a duration', () => {
    expect(parsed('llama/web-0', 'alloc-crash', '137')).toEqual({ inject: 'alloc-crash', alloc: 'llama/web-0', exitCode: 137 });
    expect(parsed('a1b2c3d4e5f6', 'alloc-crash')).toEqual({ inject: 'alloc-crash', alloc: 'a1b2c3d4e5f6' });
    expect(parsed('llama/web-0', 'alloc-unhealthy', '30s')).toEqual({ inject: 'alloc-unhealthy', alloc: 'llama/web-0', duration: '30s' });
    expect(parsed('llama/web-0', 'alloc-unhealthy', undefined, { duration: '2m' })).toEqual({
      inject: 'alloc-unhealthy',
      alloc: 'llama/web-0',
      duration: '2m',
    });
    expect(parsed('llama/web-0', 'alloc-unhealthy')).toEqual({ inject: 'alloc-unhealthy', alloc: 'llama/web-0' });
  });

  it('a host fault given job/name lands where the allocation runs: its GPU unless --gpu says', () => {
    expect(parsed('llama/web-0', 'xid', '79')).toEqual({ inject: 'xid', alloc: 'llama/web-0', code: 79 });
    expect(parsed('llama/web-0', 'xid', '79', { gpu: 2 })).toEqual({ inject: 'xid', alloc: 'llama/web-0', gpu: 2, code: 79 });
    expect(parsed('llama/web-0', 'agent-crash')).toEqual({ inject: 'agent-crash', alloc: 'llama/web-0' });
    // A hostname still means the host, GPU 0 by default.
    expect(parsed('sim-h100-001', 'xid', '79')).toEqual({ inject: 'xid', host: 'sim-h100-001', gpu: 0, code: 79 });
  });

  it('refuses garbage: an exit code that is not a number, a duration twice; the endpoint refuses the rest', () => {
    expect(() => faultFromArgs('llama/web-0', 'alloc-crash', 'boom', { dataDir: '.' })).toThrow(/exit code 'boom' is not a number/);
    expect(() => faultFromArgs('llama/web-0', 'alloc-unhealthy', '1s', { dataDir: '.', duration: '2s' })).toThrow(/VALUE or --duration, not both/);
    const cases: Array<[string, string, string | undefined, RegExp]> = [
      ['llama/web-0', 'alloc-crash', '300', /exitCode/],
      ['llama/', 'alloc-crash', undefined, /expected an allocation/],
      ['sim-h100-001/../x', 'xid', '79', /expected an allocation/],
      ['llama/web-0', 'alloc-unhealthy', 'forever', /not a duration/],
    ];
    for (const [target, kind, value, why] of cases) {
      const r = FaultSpec.safeParse(faultFromArgs(target, kind, value, { dataDir: '.' }));
      expect(r.success, `${target} ${kind} ${value}`).toBe(false);
      expect(r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')).toMatch(why);
    }
  });
});
