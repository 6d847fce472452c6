import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inRange, poolCapacity } from './pool-conditions.js';
import { parseScenario } from './scenario-file.js';

const POOLS = `
pools:
  providers: {sim: {type: sim, boot: 100ms, fail_rate: 0.1, instance_types: {sim.h100x2: {gpu_model: H100, gpus: 2}}}}
  pools:
    gpu: {provider: sim, instance_type: sim.h100x2, min_nodes: 3, max_nodes: 6, health: {replace_after: 1s}}
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('scenario files with pools', () => {
  it('reads an inline pools file, faults aimed at a pool member and conditions on a pool', () => {
    const s = parseScenario(`
name: pool-steps
fleet: {nodes: 0}
${POOLS}
events:
  - {at: 1s, inject: xid, code: 79, pool: gpu, repeat: 3, every: 1s}
  - {at: 2s, inject: xid, code: 79, pool: gpu, gpu: 1}
  - {at: 3s, inject: agent-crash, pool: gpu}
assert:
  - {always: {pool: gpu, capacity: {min: 3}, current: {min: 3}}, during: 5s, at: 0s}
  - {within: 20s, expect: {pool: gpu, ready: 3, inFlight: 0, faultsReplaced: true, killedAllocations: 0}}
  - {expect: {pool: gpu, events: {kind: replace-done, count: {min: 4}}, operations: {kind: replace, stage: [done], count: {min: 4, max: 5}}}}
`);
    expect(s.fleet.nodes).toBe(0);
    expect(s.hostnames).toEqual([]);
    expect(s.pools).toMatchObject({ filename: 'inline pools', minNodes: new Map([['gpu', 3]]) });
    expect(s.pools!.text).toMatch(/fail_rate: 0.1/);
    const [random, gpu1, crash] = s.events;
    expect(random).toMatchObject({ inject: 'xid', code: 79, pool: { name: 'gpu', randomGpu: true }, repeat: 3 });
    expect(random!.text).toBe('at 1s: xid 79 on a member of pool gpu x3 every 1s');
    expect(gpu1).toMatchObject({ pool: { name: 'gpu', randomGpu: false }, gpu: 1 });
    expect(gpu1!.text).toBe('at 2s: xid 79 on a member of pool gpu GPU 1');
    expect(crash).toMatchObject({ inject: 'agent-crash', pool: { name: 'gpu', randomGpu: false } });
    expect(crash).not.toHaveProperty('gpu');
    expect(s.assertions.map((a) => a.text)).toEqual([
      'always pool gpu current >= 3, capacity >= 3 during 5s from 0s',
      'expect pool gpu ready 3, in flight 0, every faulted host replaced, allocations killed by a terminate 0 within 20s',
      'expect pool gpu 4..5 replace done operation(s), >= 4 replace-done event(s) within 5s',
    ]);
  });

  it('reads a pools file by path, relative to the scenario', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gf-pool-scenario-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'pools.yaml'), 'providers: {sim: {type: sim}}\npools: {a: {provider: sim, instance_type: x, min_nodes: 2, max_nodes: 2}}\n');
    writeFileSync(join(dir, 's.yaml'), 'fleet: {nodes: 1}\npools: pools.yaml\nassert:\n  - {expect: {pool: a, ready: 2}}\n');
    const s = parseScenario(`fleet: {nodes: 1}\npools: pools.yaml\nassert:\n  - {expect: {pool: a, ready: 2}}\n`, join(dir, 's.yaml'));
    expect(s.pools).toMatchObject({ filename: 'pools.yaml', baseDir: dir, minNodes: new Map([['a', 2]]) });
  });

  it('refuses garbage, naming the line and field', () => {
    const bad = (text: string) => () => parseScenario(text, 'bad.yaml');
    expect(bad(`fleet: {nodes: 0}\nassert:\n  - {expect: {node: x, status: READY}}\n`)).toThrow(/bad.yaml:1:\d+: fleet.nodes: no hosts and no pools file/);
    expect(bad(`fleet: {nodes: 1}\nassert:\n  - {expect: {pool: gpu, ready: 1}}\n`)).toThrow(
      /assert\[0\]\.expect\.pool: pool gpu: the scenario applies no pools file/,
    );
    expect(bad(`fleet: {nodes: 0}\n${POOLS}\nassert:\n  - {expect: {pool: cpu, ready: 1}}\n`)).toThrow(/no pool 'cpu' in the pools file \(pools: gpu\)/);
    expect(bad(`fleet: {nodes: 0}\n${POOLS}\nassert:\n  - {expect: {pool: gpu}}\n`)).toThrow(/say what to check: ready, current/);
    expect(bad(`fleet: {nodes: 0}\n${POOLS}\nassert:\n  - {expect: {pool: gpu, ready: {}}}\n`)).toThrow(/expect\.ready/);
    expect(bad(`fleet: {nodes: 0}\n${POOLS}\nassert:\n  - {expect: {pool: gpu, ready: {min: 5, max: 2}}}\n`)).toThrow(/expect\.ready/);
    expect(bad(`fleet: {nodes: 0}\n${POOLS}\nassert:\n  - {expect: {pool: gpu, ready: -1}}\n`)).toThrow(/expect\.ready/);
    expect(bad(`fleet: {nodes: 0}\n${POOLS}\nassert:\n  - {expect: {pool: gpu, events: {kind: exploded, count: 1}}}\n`)).toThrow(/events\.kind/);
    expect(bad(`fleet: {nodes: 0}\n${POOLS}\nassert:\n  - {expect: {pool: gpu, faultsReplaced: false}}\n`)).toThrow(/faultsReplaced/);
    expect(bad(`fleet: {nodes: 0}\n${POOLS}\nassert:\n  - {expect: {pool: Bad_Name, ready: 1}}\n`)).toThrow(/expect\.pool: expected a pool name/);
    // Faults aimed at a pool.
    const withEvent = (e: string) => `fleet: {nodes: 0}\n${POOLS}\nevents:\n  - ${e}\nassert:\n  - {expect: {pool: gpu, ready: 3}}\n`;
    expect(bad(withEvent('{at: 1s, inject: xid, code: 79, pool: gpu, host: sim-h100-001}'))).toThrow(/events\[0\]\.pool: give pool or host\/alloc, not both/);
    expect(bad(withEvent('{at: 1s, inject: alloc-crash, alloc: web/web-0, pool: gpu}'))).toThrow(/events\[0\]\.pool: pool picks a host for a host fault/);
    expect(bad(withEvent('{at: 1s, action: stop, job: web, pool: gpu}'))).toThrow(/events\[0\]\.pool: pool picks a host/);
    expect(bad(withEvent('{at: 1s, inject: xid, code: 79, pool: cpu}'))).toThrow(/events\[0\]\.pool: no pool 'cpu'/);
    expect(bad(withEvent('{at: 1s, inject: xid, code: 79, pool: gpu, gpu: 9}'))).toThrow(/events\[0\]\.gpu: the hosts have GPUs 0 to 7, not 9/);
    expect(bad(withEvent('{at: 1s, inject: xid, pool: gpu}'))).toThrow(/events\[0\]\.code/);
    // The pools file itself: its problem names its line and field.
    expect(
      bad(
        `fleet: {nodes: 0}\npools: {providers: {sim: {type: sim}}, pools: {gpu: {provider: sim, instance_type: x, min_nodes: 5, max_nodes: 2}}}\nassert:\n  - {expect: {pool: gpu, ready: 1}}\n`,
      ),
    ).toThrow(/bad.yaml:2:\d+: pools: .*min_nodes/);
    expect(bad(`fleet: {nodes: 0}\npools: missing.yaml\nassert:\n  - {expect: {pool: gpu, ready: 1}}\n`)).toThrow(
      /cannot read pools file .*missing.yaml: ENOENT/,
    );
    expect(bad(`fleet: {nodes: 0}\npools: 7\nassert:\n  - {expect: {pool: gpu, ready: 1}}\n`)).toThrow(/pools: expected a pools file path/);
  });
});

describe('pool condition helpers', () => {
  it('ranges: a number is exact, min and max are inclusive', () => {
    expect(inRange(3, 3)).toBe(true);
    expect(inRange(4, 3)).toBe(false);
    expect(inRange(3, { min: 3 })).toBe(true);
    expect(inRange(2, { min: 3 })).toBe(false);
    expect(inRange(5, { max: 5 })).toBe(true);
    expect(inRange(6, { min: 1, max: 5 })).toBe(false);
  });

  it('capacity counts joined, online members that are not on their way out, healthy or not', () => {
    const m = (state: string, nodeStatus: string | null, nodeId: string | null = 'n') => ({ state, nodeStatus, nodeId }) as never;
    expect(
      poolCapacity([
        m('active', 'READY'),
        m('active', 'CORDONED'),
        m('active', 'UNHEALTHY'),
        m('active', 'DRAINING'),
        m('active', 'OFFLINE'),
        m('joining', null, null),
        m('terminating', 'DRAINED'),
      ]),
    ).toBe(3);
  });
});
