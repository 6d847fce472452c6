import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { ServiceGraph } from './service-graph.js';
import { defineService, valueService } from './service-definition.js';
import { serviceRef } from './service-ref.js';

const a = serviceRef<{ name: 'a' }>('a');
const b = serviceRef<{ name: 'b'; a: string }>('b');
const c = serviceRef<number>('c');

function recorder() {
  const log: string[] = [];
  const svc = <T>(ref: ReturnType<typeof serviceRef<T>>, deps: Record<string, ReturnType<typeof serviceRef<any>>>, value: T) =>
    defineService({
      provides: ref,
      deps,
      init: () => {
        log.push(`init ${ref.id}`);
        return value;
      },
      start: () => void log.push(`start ${ref.id}`),
      stop: () => void log.push(`stop ${ref.id}`),
    });
  return { log, svc };
}

describe('ServiceGraph', () => {
  it('starts in dependency order whatever the registration order, and stops in reverse', async () => {
    const { log, svc } = recorder();
    const g = new ServiceGraph();
    g.add(svc(c, { b }, 3), svc(b, { a }, { name: 'b' as const, a: 'x' }), svc(a, {}, { name: 'a' as const }));
    expect(g.state()).toBe('starting');
    await g.start();
    expect(g.state()).toBe('running');
    expect(log).toEqual(['init a', 'start a', 'init b', 'start b', 'init c', 'start c']);
    expect(g.get(c)).toBe(3);
    log.length = 0;
    const stopping = g.stop();
    expect(g.state()).toBe('draining');
    await Promise.all([stopping, g.stop()]);
    expect(g.state()).toBe('stopped');
    expect(log).toEqual(['stop c', 'stop b', 'stop a']);
  });

  it('hands init exactly the declared dependencies, typed', async () => {
    const g = new ServiceGraph();
    g.add(
      valueService(a, { name: 'a' }),
      defineService({ provides: b, deps: { first: a }, init: ({ first }) => ({ name: 'b' as const, a: first.name }) }),
      defineService({
        provides: c,
        deps: { b },
        init: (deps) => {
          // @ts-expect-error: `a` was not declared, so the compiler refuses it.
          void deps.a;
          return deps.b.a.length;
        },
      }),
    );
    await g.start();
    expect(g.get(b)).toEqual({ name: 'b', a: 'a' });
    expect(g.get(c)).toBe(1);
  });

  it('refuses to boot when a dependency is not registered, naming both, before building anything', async () => {
    const { log, svc } = recorder();
    const g = new ServiceGraph().add(svc(b, { a }, { name: 'b' as const, a: '' }), svc(c, {}, 1));
    const err = await g.start().catch((e: unknown) => e);
    expect(FleetError.is(err, 'failed_precondition')).toBe(true);
    expect((err as Error).message).toBe("cannot boot: missing service: 'b' needs 'a', which is not registered");
    expect(log).toEqual([]);
  });

  it('refuses a cycle and spells it out', async () => {
    const { log, svc } = recorder();
    const g = new ServiceGraph().add(svc(a, { c }, { name: 'a' as const }), svc(b, { a }, { name: 'b' as const, a: '' }), svc(c, { b }, 1));
    await expect(g.start()).rejects.toThrow('cannot boot: dependency cycle a -> c -> b -> a');
    expect(log).toEqual([]);
  });

  it('refuses a service registered twice', () => {
    const g = new ServiceGraph().add(valueService(a, { name: 'a' }), valueService(a, { name: 'a' }));
    expect(() => g.plan()).toThrow("service 'a' is registered twice");
  });

  it('a failing start stops what already started, in reverse, and names the service', async () => {
    const { log, svc } = recorder();
    const g = new ServiceGraph().add(
      svc(a, {}, { name: 'a' as const }),
      svc(b, { a }, { name: 'b' as const, a: '' }),
      defineService({ provides: c, deps: { b }, init: () => 1, start: () => Promise.reject(new Error('port in use')) }),
    );
    await expect(g.start()).rejects.toThrow("service 'c' failed to start: port in use");
    expect(log.slice(-2)).toEqual(['stop b', 'stop a']);
    expect(g.state()).toBe('stopped');
  });

  it('a failing stop is logged and the services it depends on still stop', async () => {
    const { log, svc } = recorder();
    const warned: string[] = [];
    const g = new ServiceGraph({ warn: (o) => void warned.push((o as { service: string }).service) }).add(
      svc(a, {}, { name: 'a' as const }),
      defineService({ provides: b, deps: { a }, init: () => ({ name: 'b' as const, a: '' }), stop: () => Promise.reject(new Error('stuck')) }),
    );
    await g.start();
    await g.stop();
    expect(warned).toEqual(['b']);
    expect(log).toContain('stop a');
    expect(g.state()).toBe('stopped');
  });

  it('names a service that is slow to stop while it drags, then says how long it took', async () => {
    const { log, svc } = recorder();
    const warned: Array<{ msg: string; service: string; ms?: number }> = [];
    const g = new ServiceGraph({ warn: (o, msg) => void warned.push({ msg, ...(o as { service: string; ms?: number }) }) }, 30).add(
      svc(a, {}, { name: 'a' as const }),
      defineService({
        provides: b,
        deps: { a },
        init: () => ({ name: 'b' as const, a: '' }),
        stop: () => new Promise<void>((resolve) => setTimeout(resolve, 120)),
      }),
    );
    await g.start();
    await g.stop();
    expect(warned.map((w) => `${w.service}: ${w.msg}`)).toEqual(['b: a service is slow to stop; still waiting for it', 'b: a service was slow to stop']);
    expect(warned[1]!.ms).toBeGreaterThanOrEqual(100);
    // A quick one is not named.
    expect(log).toContain('stop a');
  });

  it('get() of a service outside the graph is a clear not_found', async () => {
    const g = new ServiceGraph().add(valueService(a, { name: 'a' }));
    await g.start();
    expect(() => g.get(c)).toThrow("service 'c' is not built");
  });
});
