import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatScenarioReport, loadScenario, parseScenario, runScenario } from '@gpufleet/sim';

/*
 * Every scenario shipped in packages/sim/scenarios/ runs here against a fresh in-process server
 * and a simulated fleet (the real agent code): an XID written into a host's kernel log has to
 * travel agent -> outbox -> gateway -> health policy -> state machine -> alerts -> REST API.
 * A failing scenario prints its whole report.
 */
const dir = fileURLToPath(new URL('../../packages/sim/scenarios/', import.meta.url));
// Pool scenarios (pool-*.yaml) run hundreds of hosts for a minute or two: pool-scenarios.test.ts runs them with their own limits.
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && !f.startsWith('pool-'))
  .sort();

describe('shipped scenarios', () => {
  it('there are at least 8, covering every fault kind', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
    const kinds = new Set(files.flatMap((f) => loadScenario(join(dir, f)).events.map((e) => e.inject)));
    for (const k of ['xid', 'sxid', 'ecc-storm', 'row-remap', 'thermal', 'fall-off-bus', 'tool-failure', 'agent-crash', 'network-drop'])
      expect(kinds, k).toContain(k);
  });

  for (const file of files) {
    it(file, async () => {
      const scenario = loadScenario(join(dir, file));
      const started = Date.now();
      const result = await runScenario(scenario);
      expect(result.passed, formatScenarioReport(result)).toBe(true);
      expect(result.assertions).toHaveLength(scenario.assertions.length);
      // Each scenario stays well under 20 s of wall time.
      expect(Date.now() - started).toBeLessThan(20_000);
    }, 30_000);
  }
});

describe('the runner reports failures', () => {
  it('fails an assertion that does not hold, and says what it saw', async () => {
    // No fault is injected: the GPU stays READY, so the expectation must fail after its window.
    const scenario = parseScenario(`
name: must-fail
fleet: {nodes: 1, mix: {H100: 1}, seed: 1}
events:
  - {at: 200ms, inject: xid, host: sim-h100-001, gpu: 0, code: 13}
assert:
  - {within: 1s, expect: {node: sim-h100-001, gpu: 0, state: UNHEALTHY}}
  - {never: {node: sim-h100-001, status: READY}, during: 1s, at: 0s}
  - {within: 2s, expect: {event: {node: sim-h100-001, kind: xid, code: 13}}}
  - {within: 1s, expect: {alert: {rule: NoSuchRule}}}
`);
    const result = await runScenario(scenario);
    expect(result.passed).toBe(false);
    expect(result.error).toBeNull();
    const [unhealthy, neverReady, event, noRule] = result.assertions;
    expect(unhealthy).toMatchObject({ passed: false });
    expect(unhealthy!.seen).toMatch(/still not after 1 s: GPU 0 state READY/);
    expect(neverReady).toMatchObject({ passed: false });
    expect(neverReady!.seen).toMatch(/held at .*status READY/);
    expect(event).toMatchObject({ passed: true });
    expect(noRule).toMatchObject({ passed: false });
    expect(noRule!.seen).toMatch(/NoSuchRule/);
    const report = formatScenarioReport(result);
    expect(report).toMatch(/FAIL {2}line 7: expect sim-h100-001 GPU 0 state UNHEALTHY within 1s/);
    expect(report).toMatch(/PASS {2}line 9: /);
    expect(report).toMatch(/result: FAIL \(1 of 4 assertions passed\)/);
  }, 30_000);

  it('reports an event that cannot be applied and a server setting the server refuses', async () => {
    const bad = parseScenario(
      `
fleet: {nodes: 1, mix: {H100: 1}}
server: {heartbeatInterval: 1 fortnight}
assert:
  - {expect: {node: sim-h100-001, status: READY}}
`,
      '/tmp/bad-server.yaml',
    );
    const r1 = await runScenario(bad);
    expect(r1.passed).toBe(false);
    expect(r1.error).toMatch(/^\/tmp\/bad-server\.yaml:3: server: .*heartbeat-interval/);
    expect(r1.assertions[0]).toMatchObject({ passed: false, seen: 'not checked: the run stopped early' });

    // A crash needs a running agent: crashing twice without a restart fails the second event.
    const twice = parseScenario(`
fleet: {nodes: 1, mix: {H100: 1}}
events:
  - {at: 100ms, inject: agent-crash, host: sim-h100-001}
  - {at: 300ms, inject: agent-crash, host: sim-h100-001}
assert:
  - {within: 2s, expect: {node: sim-h100-001, status: OFFLINE}}
`);
    const r2 = await runScenario(twice);
    expect(r2.assertions[0]!.passed).toBe(true);
    expect(r2.events.map((e) => e.ok)).toEqual([true, false]);
    expect(r2.events[1]!.detail).toMatch(/not running/);
    expect(r2.passed).toBe(false);
  }, 30_000);
});
