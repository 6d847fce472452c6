import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { loadScenario, parseScenario } from './scenario-file.js';

const GOOD = `
name: demo
fleet: {nodes: 3, mix: {H100: 2, L40S: 1}, seed: 7}
server:
  heartbeat-interval: 200ms
  offlineAfter: 4
events:
  - {at: 1s, inject: xid, host: sim-h100-001, gpu: 3, code: 79}
  - {at: 2s, inject: xid, host: sim-h100-002, gpu: 0, code: 13, repeat: 3, every: 500ms}
  - {at: 1.5s, inject: network-drop, host: sim-l40s-001, duration: 2s}
assert:
  - {within: 5s, expect: {node: sim-h100-001, gpu: 3, state: UNHEALTHY}}
  - {expect: {alert: {rule: GpuUnhealthy, node: sim-h100-001, gpu: 3}}}
  - {never: {node: sim-h100-002, status: [CORDONED, OFFLINE]}, during: 10s, at: 0s}
  - {always: {node: sim-l40s-001, gpusReady: 8}, during: 1s}
  - {expect: {event: {node: sim-h100-002, kind: xid, code: 13, count: 3}}}
`;

function problem(text: string, source = 'bad.yaml'): string {
  try {
    parseScenario(text, source);
  } catch (err) {
    expect(FleetError.is(err, 'invalid_argument'), String(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected the scenario to be refused');
}

describe('scenario files: good', () => {
  it('reads fleet, server keys, timed events with repeats and every kind of assertion', () => {
    const s = parseScenario(GOOD, '/tmp/demo.yaml');
    expect(s.name).toBe('demo');
    expect(s.hostnames).toEqual(['sim-h100-001', 'sim-l40s-001', 'sim-h100-002']);
    expect(s.fleet).toEqual({ nodes: 3, mix: { H100: 2, L40S: 1 }, seed: 7, gpus: 8 });
    expect(s.server).toEqual({ heartbeatInterval: '200ms', offlineAfter: 4 });
    expect(s.events.map((e) => [e.inject, e.at, e.repeat, e.every])).toEqual([
      ['xid', 1000, 1, 0],
      ['xid', 2000, 3, 500],
      ['network-drop', 1500, 1, 0],
    ]);
    expect(s.events[2]).toMatchObject({ duration: 2000, line: 10 });
    expect(s.lastEventMs).toBe(3000); // 2s + 2 x 500ms
    expect(s.assertions.map((a) => [a.kind, a.windowMs, a.startMs, a.line])).toEqual([
      ['expect', 5000, 3000, 12],
      ['expect', 5000, 3000, 13],
      ['never', 10_000, 0, 14],
      ['always', 1000, 3000, 15],
      ['expect', 5000, 3000, 16],
    ]);
    expect(s.assertions[0]!.text).toBe('expect sim-h100-001 GPU 3 state UNHEALTHY within 5s');
    expect(s.assertions[2]!.text).toBe('never sim-h100-002 status CORDONED|OFFLINE during 10s from 0s');
    expect(s.events[1]!.text).toBe('at 2s: xid 13 on sim-h100-002 GPU 0 x3 every 500ms');
    expect(s.dir).toBe('/tmp');
  });

  it('loads every shipped scenario', async () => {
    const { readdirSync } = await import('node:fs');
    const dir = new URL('../../scenarios/', import.meta.url).pathname;
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const f of files) {
      const s = loadScenario(join(dir, f));
      expect(s.name).toBe(f.replace(/\.yaml$/, ''));
      expect(s.assertions.length).toBeGreaterThan(0);
    }
  });

  it('reads a file from disk and names it in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-scn-'));
    try {
      const file = join(dir, 'x.yaml');
      writeFileSync(file, GOOD.replace('code: 79', 'code: "79"'));
      expect(() => loadScenario(file)).toThrow(new RegExp(`${file.replace(/[.]/g, '\\.')}:8:\\d+: events\\[0\\]\\.code: expected an XID/SXid code number`));
      expect(() => loadScenario(join(dir, 'missing.yaml'))).toThrow(/cannot read scenario .*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scenario files: bad, with errors naming the line and field', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not YAML', 'fleet: {nodes: 2\nassert: [', /^bad\.yaml:\d+:\d+: not valid YAML/],
    ['not a mapping', '- 1\n- 2\n', /a scenario is a YAML mapping/],
    ['no fleet', 'assert: [{expect: {node: a, status: READY}}]\n', /bad\.yaml:1:1: fleet: /],
    ['unknown key', GOOD.replace('name: demo', 'name: demo\ncolour: red'), /bad\.yaml:3:9: colour: Unrecognized key: "colour"/],
    [
      'unknown inject',
      GOOD.replace('inject: network-drop', 'inject: meteor'),
      /bad\.yaml:10:\d+: events\[2\]\.inject: inject must be one of xid, sxid, ecc-storm/,
    ],
    ['bad duration', GOOD.replace('at: 1.5s', 'at: soon'), /bad\.yaml:10:\d+: events\[2\]\.at: 'soon' is not a duration/],
    [
      'unknown host',
      GOOD.replace('host: sim-h100-001, gpu: 3', 'host: sim-h100-009, gpu: 3'),
      /bad\.yaml:8:\d+: events\[0\]\.host: no host 'sim-h100-009' in this fleet \(hosts: sim-h100-001/,
    ],
    ['gpu out of range', GOOD.replace('gpu: 3, code', 'gpu: 9, code'), /events\[0\]\.gpu: the hosts have GPUs 0 to 7, not 9/],
    [
      'xid on AMD',
      GOOD.replace('L40S: 1', 'MI300X: 1')
        .replace(/sim-l40s-001/g, 'sim-mi300x-001')
        .replace('inject: network-drop, host: sim-mi300x-001, duration: 2s', 'inject: xid, host: sim-mi300x-001, gpu: 0, code: 79'),
      /events\[2\]\.inject: sim-mi300x-001 has amd GPUs/,
    ],
    [
      'sxid without NVSwitch',
      GOOD.replace('inject: network-drop, host: sim-l40s-001, duration: 2s', 'inject: sxid, host: sim-l40s-001, code: 20034'),
      /without NVSwitches/,
    ],
    [
      'failure and message',
      GOOD.replace('inject: network-drop, host: sim-l40s-001, duration: 2s', 'inject: tool-failure, host: sim-l40s-001, failure: gpu-lost, message: boom'),
      /events\[2\]\.message: give a recorded failure or a message, not both/,
    ],
    ['repeat without every', GOOD.replace('repeat: 3, every: 500ms', 'repeat: 3'), /events\[1\]\.repeat: repeat needs every/],
    [
      'two kinds',
      GOOD.replace('{never: {node: sim-h100-002', '{expect: {node: sim-h100-001, status: READY}, never: {node: sim-h100-002'),
      /assert\[2\]: an assertion has one of expect, never or always, not expect and never/,
    ],
    ['never without during', GOOD.replace(', during: 10s, at: 0s', ''), /assert\[2\]\.never: never needs during/],
    ['expect with during', GOOD.replace('{within: 5s, expect', '{during: 5s, expect'), /assert\[0\]\.during: expect takes within/],
    ['bad status', GOOD.replace('[CORDONED, OFFLINE]', '[CORDONED, SLEEPY]'), /assert\[2\]\.never\.status/],
    [
      'state without gpu',
      GOOD.replace('gpu: 3, state: UNHEALTHY', 'state: UNHEALTHY'),
      /assert\[0\]\.expect\.state: state is a GPU state: give the gpu index too/,
    ],
    ['nothing to check', GOOD.replace('{node: sim-l40s-001, gpusReady: 8}', '{node: sim-l40s-001}'), /assert\[3\]\.always: say what to check/],
    ['alert without rule', GOOD.replace('{rule: GpuUnhealthy, node', '{node'), /assert\[1\]\.expect\.alert\.rule: expected an alert rule name/],
    ['no assertions', `${GOOD.slice(0, GOOD.indexOf('assert:'))}assert: []\n`, /assert: a scenario needs at least one assertion/],
    ['runner-owned server key', GOOD.replace('offlineAfter: 4', 'listen: 0.0.0.0:80'), /bad\.yaml:6:\d+: server\.listen: the runner sets this itself/],
    ['bad policy ref', GOOD.replace('offlineAfter: 4', 'healthPolicy: 12'), /server\.healthPolicy: expected a file path/],
    ['unknown model', GOOD.replace('L40S: 1', 'V100: 1'), /fleet\.mix/],
    ['too many nodes', GOOD.replace('nodes: 3', 'nodes: 5000'), /fleet\.nodes/],
  ];
  for (const [what, text, why] of cases) {
    it(what, () => {
      expect(problem(text)).toMatch(why);
    });
  }

  it('lists several problems at once, each on its own line', () => {
    const text = GOOD.replace('at: 1.5s', 'at: soon').replace('code: 79', 'code: x');
    const lines = problem(text).split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => /^bad\.yaml:\d+:\d+: events\[\d\]/.test(l))).toBe(true);
  });

  it('never crashes on garbage', () => {
    for (const junk of [
      '',
      '~',
      '42',
      '"x"',
      '[[[',
      'a: &x [*x]',
      '\u0000\u0001',
      'fleet: null\nassert: null',
      `fleet: {nodes: 1}\nassert: [${'{'.repeat(50)}`,
    ]) {
      expect(() => parseScenario(junk)).toThrow(FleetError);
    }
    expect(() => parseScenario(undefined as unknown as string)).toThrow(/YAML text/);
  });
});
