import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatScenarioReport, loadScenario, parseScenario, runScenario } from '@gpufleet/sim';

/*
 * The shipped pool scenario against a fresh in-process server whose sim provider starts the
 * pool's hosts (the real agent on fake hardware, each enrolled with its own join token): 200
 * nodes, random fatal XIDs, 10% of provisions refused. The pool manager must replace every
 * faulted node provision first, never leave fewer than 200 nodes up, and never switch off a
 * host while an allocation still runs there. A failing run prints its whole report.
 */
const dir = fileURLToPath(new URL('../../packages/sim/scenarios/', import.meta.url));

describe('pool scenarios', () => {
  it('pool-replacement.yaml: 200 sim hosts, random fatal XIDs, 10% of provisions refused', async () => {
    const scenario = loadScenario(join(dir, 'pool-replacement.yaml'));
    expect(scenario.pools?.minNodes.get('gpu')).toBe(200);
    const started = Date.now();
    const result = await runScenario(scenario);
    const report = formatScenarioReport(result);
    expect(result.passed, report).toBe(true);
    expect(result.assertions).toHaveLength(scenario.assertions.length);
    // 20 random faults plus the two aimed at allocations' hosts all ran.
    expect(result.events.filter((e) => e.ok)).toHaveLength(1 + 20 + 2);
    // It stays a test one can wait for: about two minutes at most, setup included.
    expect(Date.now() - started, report).toBeLessThan(150_000);
  }, 180_000);
});

describe('the runner reports pool conditions that do not hold', () => {
  it('fails an expectation on a pool and says what it saw; a pool fault with no member left to hit fails its event', async () => {
    const scenario = parseScenario(`
name: pool-must-fail
fleet: {nodes: 0, seed: 3}
pools:
  providers: {sim: {type: sim, boot: 100ms, instance_types: {sim.h100x1: {gpu_model: H100, gpus: 1}}}}
  pools:
    gpu: {provider: sim, instance_type: sim.h100x1, min_nodes: 2, max_nodes: 2, health: {replace_after: 30m}}
events:
  - {at: 0s, inject: xid, code: 79, pool: gpu, repeat: 3, every: 200ms}
assert:
  - {within: 1s, expect: {pool: gpu, ready: 5}}
  - {within: 1s, expect: {pool: gpu, faultsReplaced: true}}
  - {within: 1s, expect: {pool: gpu, unhealthy: 0}}
  - {within: 1s, expect: {pool: gpu, events: {kind: replace-done, count: {min: 1}}}}
  - {within: 3s, expect: {pool: gpu, desired: 2, current: 2, killedAllocations: 0}}
`);
    const result = await runScenario(scenario);
    const report = formatScenarioReport(result);
    expect(result.passed, report).toBe(false);
    expect(result.error, report).toBeNull();
    expect(result.poolHosts).toHaveLength(2);
    expect(report).toMatch(/fleet: 0 hosts \(\); pools: 2 hosts at min_nodes; set up in/);
    // Two members: the third fault finds no READY member that was not hit.
    expect(result.events.map((e) => e.ok)).toEqual([true, true, false]);
    expect(result.events[2]!.detail).toMatch(/no READY member of pool gpu left that no fault hit/);
    const [ready, replaced, unhealthy, events, fine] = result.assertions;
    expect(ready!.seen, report).toMatch(/still not after 1 s: ready 2/);
    // replace_after is 30 minutes: nothing is replaced while the run lasts.
    expect(replaced!.seen, report).toMatch(/0 of 2 faulted hosts replaced \(waiting: gpu-/);
    expect(unhealthy!.seen, report).toMatch(/unhealthy [12]/);
    expect(events!.seen, report).toMatch(/replace-done events 0/);
    expect(fine, report).toMatchObject({ passed: true });
  }, 60_000);
});
