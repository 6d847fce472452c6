import { describe, expect, it } from 'vitest';
import { FleetError } from './errors.js';
import { closestField, formatFieldPath, JOB_FILE_DEFAULTS, JOB_FILE_MAX_BYTES, parseJobFile, type JobFileProblem } from './job-file.js';
import { JobSpec } from './job-spec.js';
import { jobSpecHash } from './signed-job.js';

const GiB = 2 ** 30;

/** The job file of issue 10, as written there. */
const ISSUE_EXAMPLE = `name: llama
allocations:
  web:
    count: 4
    executor: container          # container (Docker Engine API / Podman) | process (a command on the host)
    image: ghcr.io/example/vllm:0.6   # or command: [...] for process
    env: { MODEL: llama-3-8b }
    resources: { gpus: 1, gpu_memory_min: 40GiB, gpu_model: [H100, A100-80GB], cpu: 8, memory: 64GiB }
    health: { http: ":8000/health", interval: 10s, timeout: 2s }   # or command / tcp
    restart: { attempts: 3, within: 10m, delay: 5s }
constraints: [ "region in (eu,us)", "!spot" ]          # label selectors; negative ones too
spread: rack                                          # or strategy: binpack (default) | spread
pin: { web-0: gpu-17 }                                # optional: this allocation on this node
update: { max_parallel: 1, canary: 1, healthy_for: 30s, auto_revert: true }
`;

/** Every field on its own line, so a garbage test can replace one line and expect its number. */
const FULL = [
  'name: llama', // 1
  'kind: service', // 2
  'allocations:', // 3
  '  web:', // 4
  '    count: 4', // 5
  '    executor: container', // 6
  '    image: ghcr.io/example/vllm:0.6', // 7
  '    env:', // 8
  '      MODEL: llama-3-8b', // 9
  '    resources:', // 10
  '      gpus: 1', // 11
  '      gpu_memory_min: 40GiB', // 12
  '      gpu_model: [H100, A100-80GB]', // 13
  '      gpu_vendor: nvidia', // 14
  '      cpu: 8', // 15
  '      memory: 64GiB', // 16
  '    health:', // 17
  '      http: ":8000/health"', // 18
  '      interval: 10s', // 19
  '      timeout: 2s', // 20
  '      grace: 1m', // 21
  '      failures: 3', // 22
  '    restart:', // 23
  '      attempts: 3', // 24
  '      within: 10m', // 25
  '      delay: 5s', // 26
  '    stop_grace: 30s', // 27
  'constraints: ["region in (eu,us)", "!spot"]', // 28
  'strategy: spread', // 29
  'spread: rack', // 30
  'pin:', // 31
  '  web-0: gpu-17', // 32
  'update:', // 33
  '  max_parallel: 1', // 34
  '  canary: 1', // 35
  '  healthy_for: 30s', // 36
  '  auto_revert: true', // 37
  '  deadline: 10m', // 38
  'reschedule:', // 39
  '  offline_grace: 2m', // 40
];

function withLine(line: number, text: string): string {
  const lines = [...FULL];
  lines[line - 1] = text;
  return `${lines.join('\n')}\n`;
}

/** The FleetError a file is refused with (the test fails when it is accepted). */
function refusal(text: string, file = 'llama.yaml'): FleetError {
  try {
    parseJobFile(text, { file });
  } catch (err) {
    if (err instanceof FleetError) return err;
    throw err;
  }
  throw new Error(`accepted:\n${text}`);
}

function problems(err: FleetError): JobFileProblem[] {
  return (err.details as { problems: JobFileProblem[] }).problems;
}

describe('parseJobFile: good files', () => {
  it('parses the issue example into a normalized spec with every default filled in', () => {
    const spec = parseJobFile(ISSUE_EXAMPLE);
    expect(spec).toEqual({
      name: 'llama',
      kind: 'service',
      allocations: {
        web: {
          count: 4,
          executor: 'container',
          image: 'ghcr.io/example/vllm:0.6',
          env: { MODEL: 'llama-3-8b' },
          resources: { gpus: 1, gpu_memory_min: 40 * GiB, gpu_model: ['H100', 'A100-80GB'], cpu: 8, memory: 64 * GiB },
          health: { http: ':8000/health', interval: 10_000, timeout: 2_000, grace: 30_000, failures: 3 },
          restart: { attempts: 3, within: 600_000, delay: 5_000 },
          stop_grace: 10_000,
        },
      },
      constraints: ['region in (eu,us)', '!spot'],
      strategy: 'spread',
      spread: 'rack',
      pin: { 'web-0': 'gpu-17' },
      update: { max_parallel: 1, canary: 1, healthy_for: 30_000, auto_revert: true, deadline: 600_000 },
      reschedule: { offline_grace: 120_000 },
    });
    // What the parser returns is what the contract signs.
    expect(JobSpec.parse(spec)).toEqual(spec);
  });

  it('fills every default for the smallest file', () => {
    const spec = parseJobFile('name: tiny\nallocations:\n  main:\n    image: busybox\n');
    expect(spec).toEqual({
      name: 'tiny',
      kind: JOB_FILE_DEFAULTS.kind,
      allocations: {
        main: {
          count: 1,
          executor: 'container',
          image: 'busybox',
          env: {},
          resources: { gpus: 0 },
          restart: { attempts: 3, within: 600_000, delay: 5_000 },
          stop_grace: 10_000,
        },
      },
      constraints: [],
      strategy: 'binpack',
      pin: {},
      update: { max_parallel: 1, canary: 0, healthy_for: 30_000, auto_revert: false, deadline: 600_000 },
      reschedule: { offline_grace: 120_000 },
    });
  });

  it('parses the one-field-per-line file, and the same job written two ways is the same version', () => {
    const spec = parseJobFile(withLine(1, 'name: llama'));
    expect(spec.allocations.web!.health).toEqual({ http: ':8000/health', interval: 10_000, timeout: 2_000, grace: 60_000, failures: 3 });
    expect(spec.allocations.web!.stop_grace).toBe(30_000);
    const flow = `{name: llama, allocations: {web: {image: busybox, executor: container, resources: {gpus: 1}}}}`;
    const block = `# a comment\nallocations:\n  web:\n    resources:\n      gpus: 1\n    image: busybox\nname: llama\n`;
    expect(jobSpecHash(parseJobFile(flow))).toBe(jobSpecHash(parseJobFile(block)));
  });

  it('keeps env values and command arguments as written, numbers and booleans included', () => {
    const spec = parseJobFile(
      [
        'name: sleeper',
        'allocations:',
        '  main:',
        '    executor: process',
        '    command: [sleep, 1.10, true, 0x10, "x"]',
        '    env: { PORT: 8000, VERSION: 1.10, DEBUG: false, EMPTY: "" }',
        '    health: { command: [test, -f, 007], interval: 1s }',
      ].join('\n'),
    );
    expect(spec.allocations.main!.command).toEqual(['sleep', '1.10', 'true', '0x10', 'x']);
    expect(spec.allocations.main!.env).toEqual({ PORT: '8000', VERSION: '1.10', DEBUG: 'false', EMPTY: '' });
    expect(spec.allocations.main!.health!.command).toEqual(['test', '-f', '007']);
  });

  it('takes a single string where a list is expected for gpu_model and constraints', () => {
    const spec = parseJobFile('name: a\nallocations: { g: { image: x, resources: { gpu_model: H100 } } }\nconstraints: "region=eu"\n');
    expect(spec.allocations.g!.resources.gpu_model).toEqual(['H100']);
    expect(spec.constraints).toEqual(['region=eu']);
  });

  it('infers executor container from an image; strategy spread from spread; binpack otherwise', () => {
    const a = parseJobFile('name: a\nallocations: { g: { image: x } }\n');
    expect(a.allocations.g!.executor).toBe('container');
    expect(a.strategy).toBe('binpack');
    expect(a.spread).toBeUndefined();
    const b = parseJobFile('name: a\nallocations: { g: { image: x } }\nstrategy: spread\n');
    expect(b.strategy).toBe('spread');
    expect(b.spread).toBeUndefined();
  });

  it('reads anchors and aliases within the alias limit', () => {
    const spec = parseJobFile(
      ['name: a', 'allocations:', '  one: { image: x, env: &common { A: "1", B: "2" } }', '  two: { image: y, env: *common }'].join('\n'),
    );
    expect(spec.allocations.two!.env).toEqual({ A: '1', B: '2' });
  });
});

describe('parseJobFile: units', () => {
  const durationCases: Array<[string, number]> = [
    ['0s', 0],
    ['500ms', 500],
    ['10s', 10_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
    ['30d', 30 * 86_400_000],
  ];
  it.each(durationCases)('duration %s is %i ms', (text, ms) => {
    expect(parseJobFile(withLine(21, `      grace: ${text}`)).allocations.web!.health!.grace).toBe(ms);
  });

  const badDurations: Array<[string, string]> = [
    ['10', "'10' needs a unit"],
    ['10S', "'10S' is not a duration such as 500ms, 10s, 2m, 1h or 1d"],
    ['1.5h', "'1.5h' is not a duration"],
    ['-5s', "'-5s' is not a duration"],
    ['10 s', "'10 s' is not a duration"],
    ['1m1h', 'from the largest to the smallest, each once'],
    ['5s5s', 'from the largest to the smallest, each once'],
    ['31d', "'31d' is longer than the 30d limit"],
    ['99999999999999999999s', 'is not a duration'],
    ['""', "'' is not a duration"],
    ['[10s]', 'expected a duration such as 10s or 2m'],
    ['', 'expected a duration such as 10s or 2m'],
  ];
  it.each(badDurations)('duration %s is refused: %s', (text, fragment) => {
    const err = refusal(withLine(21, `      grace: ${text}`));
    expect(err.message).toContain('llama.yaml:21:');
    expect(err.message).toContain('allocations.web.health.grace: ');
    expect(err.message).toContain(fragment);
  });

  const sizeCases: Array<[string, number]> = [
    ['40GiB', 40 * GiB],
    ['40 GiB', 40 * GiB],
    ['512MiB', 512 * 2 ** 20],
    ['80GB', 80e9],
    ['1TiB', 2 ** 40],
    ['1.5GiB', 1.5 * GiB],
    ['1kB', 1000],
    ['1024', 1024],
    ['"1024"', 1024],
    ['0', 0],
    ['7B', 7],
  ];
  it.each(sizeCases)('size %s is %i bytes', (text, n) => {
    expect(parseJobFile(withLine(16, `      memory: ${text}`)).allocations.web!.resources.memory).toBe(n);
  });

  const badSizes: Array<[string, string]> = [
    ['40Gb', "'40Gb' is not a size such as 40GiB or 512MiB (did you mean 40GiB?)"],
    ['40G', '(did you mean 40GiB?)'],
    ['40Gi', '(did you mean 40GiB?)'],
    ['40gib', '(did you mean 40GiB?)'],
    ['40XB', "'40XB' is not a size such as 40GiB or 512MiB"],
    ['-1', "'-1' is not a size"],
    ['1.5', "'1.5' is not a size"],
    ['"1.5"', "'1.5' is not a size"],
    ['GiB', "'GiB' is not a size"],
    ['99999999PiB', 'is too large'],
    ['true', 'expected a size such as 40GiB'],
    ['{a: 1}', 'expected a size such as 40GiB'],
  ];
  it.each(badSizes)('size %s is refused: %s', (text, fragment) => {
    const err = refusal(withLine(16, `      memory: ${text}`));
    expect(err.message).toContain('llama.yaml:16:15: allocations.web.resources.memory: ');
    expect(err.message).toContain(fragment);
  });
});

describe('parseJobFile: every field with garbage', () => {
  // line, the line's new text, what the message must say (its position and field path included).
  const cases: Array<[number, string, string]> = [
    [1, 'name: Llama', 'llama.yaml:1:7: name: a job name is lowercase letters'],
    [1, 'name: 42', 'llama.yaml:1:7: name: expected text, got the number 42'],
    [1, 'name: a_b', 'name: a job name is lowercase'],
    [1, `name: ${'a'.repeat(64)}`, 'name: a job name is lowercase'],
    [1, 'name:', 'llama.yaml:1:1: name: has no value (expected text)'],
    [1, 'nme: llama', 'llama.yaml:1:1: nme: unknown field (did you mean name?)'],
    [2, 'kind: daemon', "llama.yaml:2:7: kind: 'daemon' is not one of service, batch"],
    [2, 'kind: [service]', 'kind: expected text, got a list'],
    [4, '  Web:', 'llama.yaml:4:3: allocations.Web: a group name is lowercase letters, digits and _'],
    [5, '    count: 0', 'llama.yaml:5:12: allocations.web.count: must be at least 1'],
    [5, '    count: 1.5', "allocations.web.count: '1.5' is not a whole number"],
    [5, '    count: "4"', "allocations.web.count: expected a number, got the text '4'"],
    [5, '    count: 10001', 'allocations.web.count: must be at most 10000'],
    [5, '    replicas: 4', 'llama.yaml:5:5: allocations.web.replicas: unknown field (did you mean count?)'],
    [6, '    executor: docker', "llama.yaml:6:15: allocations.web.executor: 'docker' is not one of container, process (did you mean container?)"],
    [6, '    executor: contianer', '(did you mean container?)'],
    [7, '    image: ""', 'llama.yaml:7:12: allocations.web.image: must not be empty'],
    [7, '    image: [a]', 'allocations.web.image: expected text, got a list'],
    [7, '    command: [a]', 'llama.yaml:4:3: allocations.web.image: a container allocation needs an image'],
    [9, '      1MODEL: x', 'llama.yaml:9:7: allocations.web.env.1MODEL: an env name is letters, digits and _'],
    [9, '      MODEL:', 'llama.yaml:9:7: allocations.web.env.MODEL: has no value (expected text)'],
    [9, '      MODEL: [a]', 'allocations.web.env.MODEL: expected text, got a list'],
    [10, '    resorces:', 'llama.yaml:10:5: allocations.web.resorces: unknown field (did you mean resources?)'],
    [11, '      gpus: -1', 'llama.yaml:11:13: allocations.web.resources.gpus: must be at least 0'],
    [11, '      gpus: 65', 'allocations.web.resources.gpus: must be at most 64'],
    [11, '      gpu: 1', 'llama.yaml:11:7: allocations.web.resources.gpu: unknown field (did you mean gpus?)'],
    [12, '      gpu_memory_min: 40Gb', "llama.yaml:12:23: allocations.web.resources.gpu_memory_min: '40Gb' is not a size such as 40GiB or 512MiB"],
    [13, '      gpu_model: []', 'llama.yaml:13:18: allocations.web.resources.gpu_model: needs at least 1 item'],
    [13, '      gpu_model: [""]', 'llama.yaml:13:19: allocations.web.resources.gpu_model[0]: must not be empty'],
    [13, '      gpu_model: 7', 'allocations.web.resources.gpu_model: expected a list, got the number 7'],
    [14, '      gpu_vendor: nvida', "llama.yaml:14:19: allocations.web.resources.gpu_vendor: 'nvida' is not one of"],
    [15, '      cpu: 0', 'llama.yaml:15:12: allocations.web.resources.cpu: must be more than 0'],
    [15, '      cpu: "8"', "allocations.web.resources.cpu: expected a number, got the text '8'"],
    [15, '      cpu: 5000', 'allocations.web.resources.cpu: must be at most 4096'],
    [16, '      memory: lots', "llama.yaml:16:15: allocations.web.resources.memory: 'lots' is not a size"],
    [18, '      http: "8000/health"', 'llama.yaml:18:13: allocations.web.health.http: an http check is [host]:port/path'],
    [18, '      http: ":8000/health"\n      tcp: ":8000"', 'llama.yaml:18:7: allocations.web.health: a health check has exactly one of http, tcp or command'],
    [18, '      grpc: ":8000"', 'llama.yaml:18:7: allocations.web.health.grpc: unknown field'],
    [19, '      interval: 50ms', "llama.yaml:19:17: allocations.web.health.interval: '50ms' is below the minimum of 100ms"],
    [20, '      timeout: 2', "llama.yaml:20:16: allocations.web.health.timeout: '2' needs a unit"],
    [21, '      grace: soon', "llama.yaml:21:14: allocations.web.health.grace: 'soon' is not a duration"],
    [22, '      failures: 0', 'llama.yaml:22:17: allocations.web.health.failures: must be at least 1'],
    [24, '      attempts: 101', 'llama.yaml:24:17: allocations.web.restart.attempts: must be at most 100'],
    [25, '      within: 10', "llama.yaml:25:15: allocations.web.restart.within: '10' needs a unit"],
    [26, '      delay: -1s', "llama.yaml:26:14: allocations.web.restart.delay: '-1s' is not a duration"],
    [27, '    stop_grace: 1y', "llama.yaml:27:17: allocations.web.stop_grace: '1y' is not a duration"],
    [28, 'constraints: ["region in eu"]', 'llama.yaml:28:15: constraints[0]: not a label selector'],
    [28, 'constraints: [1]', 'llama.yaml:28:15: constraints[0]: expected text, got the number 1'],
    [28, 'constraints: {a: b}', 'llama.yaml:28:14: constraints: expected a list, got a map'],
    [29, 'strategy: pack', "llama.yaml:29:11: strategy: 'pack' contradicts spread: rack"],
    [29, 'strategy: binpack', "strategy: 'binpack' contradicts spread: rack"],
    [30, 'spread: "bad key!"', 'llama.yaml:30:9: spread: not a label key'],
    [32, '  web-4: gpu-17', "llama.yaml:32:10: pin.web-4: 'web-4' is not an allocation of this job"],
    [32, '  db-0: gpu-17', "pin.db-0: 'db-0' is not an allocation of this job"],
    [32, '  web-0: ""', 'llama.yaml:32:10: pin.web-0: must not be empty'],
    [34, '  max_parallel: 0', 'llama.yaml:34:17: update.max_parallel: must be at least 1'],
    [35, '  canary: -1', 'llama.yaml:35:11: update.canary: must be at least 0'],
    [36, '  healthy_for: forever', "llama.yaml:36:16: update.healthy_for: 'forever' is not a duration"],
    [37, '  auto_revert: yes', "llama.yaml:37:16: update.auto_revert: expected true or false, got the text 'yes'"],
    [38, '  deadline: 500ms', "llama.yaml:38:13: update.deadline: '500ms' is below the minimum of 1s"],
    [38, '  deadlne: 10m', 'llama.yaml:38:3: update.deadlne: unknown field (did you mean deadline?)'],
    [40, '  offline_grace: 1', "llama.yaml:40:18: reschedule.offline_grace: '1' needs a unit"],
    [40, '  grace: 2m', 'llama.yaml:40:3: reschedule.grace: unknown field (did you mean offline_grace?)'],
  ];
  it.each(cases)('line %i `%s` is refused: %s', (line, text, fragment) => {
    const err = refusal(withLine(line, text));
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toContain(fragment);
  });

  // A map's field given something else: the rest of the file must stay YAML, so these files are small.
  const shapes: Array<[string, string, string]> = [
    ['allocations: []', 'name: a\nallocations: []\n', 'llama.yaml:2:14: allocations: expected a map, got a list'],
    ['allocations: a list of groups', 'name: a\nallocations:\n  - image: x\n', 'llama.yaml:3:3: allocations: expected a map, got a list'],
    ['env: a list', 'name: a\nallocations:\n  g:\n    image: x\n    env: [A=1]\n', 'llama.yaml:5:10: allocations.g.env: expected a map, got a list'],
    [
      'health: yes',
      'name: a\nallocations:\n  g:\n    image: x\n    health: yes\n',
      "llama.yaml:5:13: allocations.g.health: expected a map, got the text 'yes'",
    ],
    [
      'restart: always',
      'name: a\nallocations:\n  g:\n    image: x\n    restart: always\n',
      "llama.yaml:5:14: allocations.g.restart: expected a map, got the text 'always'",
    ],
    [
      'resources: 1',
      'name: a\nallocations:\n  g:\n    image: x\n    resources: 1\n',
      'llama.yaml:5:16: allocations.g.resources: expected a map, got the number 1',
    ],
    ['a group: a string', 'name: a\nallocations:\n  g: busybox\n', "llama.yaml:3:6: allocations.g: expected a map, got the text 'busybox'"],
    ['update: null', 'name: a\nallocations: { g: { image: x } }\nupdate:\n', 'llama.yaml:3:1: update: has no value (expected a map)'],
    ['pin: a list', 'name: a\nallocations: { g: { image: x } }\npin: [web-0]\n', 'llama.yaml:3:6: pin: expected a map, got a list'],
    ['reschedule: 2m', 'name: a\nallocations: { g: { image: x } }\nreschedule: 2m\n', "llama.yaml:3:13: reschedule: expected a map, got the text '2m'"],
    [
      'command: a string',
      'name: a\nallocations:\n  g:\n    executor: process\n    command: sleep 10\n',
      "llama.yaml:5:14: allocations.g.command: expected a list, got the text 'sleep 10'",
    ],
    ['command: []', 'name: a\nallocations:\n  g:\n    executor: process\n    command: []\n', 'llama.yaml:5:14: allocations.g.command: needs at least 1 item'],
    [
      'health with none of http, tcp, command',
      'name: a\nallocations:\n  g:\n    image: x\n    health: { interval: 5s }\n',
      'llama.yaml:5:13: allocations.g.health: a health check has exactly one of http, tcp or command',
    ],
    [
      'health command: []',
      'name: a\nallocations:\n  g:\n    image: x\n    health: { command: [] }\n',
      'llama.yaml:5:24: allocations.g.health.command: needs at least 1 item',
    ],
    [
      'health tcp: bad',
      'name: a\nallocations:\n  g:\n    image: x\n    health: { tcp: localhost }\n',
      'llama.yaml:5:20: allocations.g.health.tcp: a tcp check is [host]:port',
    ],
    [
      '33 groups',
      `name: a\nallocations:\n${Array.from({ length: 33 }, (_, i) => `  g${i}: { image: x }`).join('\n')}\n`,
      'llama.yaml:3:3: allocations: a job has 1 to 32 allocation groups',
    ],
    [
      '33 constraints',
      `name: a\nallocations: { g: { image: x } }\nconstraints: [${Array.from({ length: 33 }, () => 'a=b').join(', ')}]\n`,
      'llama.yaml:3:14: constraints: takes at most 32 items',
    ],
    [
      '257 env variables',
      `name: a\nallocations:\n  g:\n    image: x\n    env: {${Array.from({ length: 257 }, (_, i) => `V${i}: x`).join(', ')}}\n`,
      'llama.yaml:5:10: allocations.g.env: at most 256 env variables',
    ],
  ];
  it.each(shapes)('%s is refused', (_what, text, fragment) => {
    expect(refusal(text).message).toContain(fragment);
  });

  it('names every field of a group when the process executor is given an image or lacks its command', () => {
    const both = problems(refusal(withLine(6, '    executor: process')));
    expect(both).toEqual([
      { line: 4, col: 3, path: 'allocations.web.command', message: 'a process allocation needs a command' },
      { line: 7, col: 12, path: 'allocations.web.image', message: 'a process allocation runs a command on the host, not an image' },
    ]);
    const noExecutor = refusal('name: a\nallocations:\n  g:\n    command: [x]\n');
    expect(noExecutor.message).toBe('llama.yaml:3:3: allocations.g.executor: required: container (runs an image) or process (runs a command on the host)');
  });

  it('says which required top-level fields are missing', () => {
    expect(refusal('allocations: { g: { image: x } }\n').message).toBe('llama.yaml:1:1: name: required');
    expect(refusal('name: a\n').message).toBe('llama.yaml:1:1: allocations: required');
    expect(refusal('name: a\nallocations: {}\n').message).toContain('llama.yaml:2:14: allocations: a job has 1 to 32 allocation groups');
  });

  it('lists the fields of a map when an unknown one is not close to any', () => {
    expect(refusal('name: a\nallocations: { g: { image: x } }\nzzzzzz: 1\n').message).toBe(
      'llama.yaml:3:1: zzzzzz: unknown field (the fields here are name, kind, allocations, constraints, strategy, spread, pin, update, reschedule)',
    );
  });

  it('reports every problem in details, in file order, and counts the others in the message', () => {
    const err = refusal('name: A\nallocations:\n  g:\n    image: x\n    count: 0\nkind: nope\n');
    expect(err.message).toBe(
      'llama.yaml:1:7: name: a job name is lowercase letters, digits and -, at most 63, starting and ending with a letter or digit (and 2 more problems)',
    );
    expect(problems(err).map((p) => `${p.line}:${p.col} ${p.path}`)).toEqual(['1:7 name', '5:12 allocations.g.count', '6:7 kind']);
    // The file's own types are checked first; the spec's rules (the name) once they hold.
    const fileLevel = refusal('name: a\nallocations:\n  g:\n    image: x\n    count: "0"\nkind: [nope]\n');
    expect(problems(fileLevel).map((p) => `${p.line}:${p.col} ${p.path}`)).toEqual(['5:12 allocations.g.count', '6:7 kind']);
  });

  it('uses no file name when none is given', () => {
    expect(() => parseJobFile('name: A\nallocations: { g: { image: x } }')).toThrow(/^line 1:7: name: a job name/);
  });
});

describe('parseJobFile: files that are not job files', () => {
  const cases: Array<[string, string, string]> = [
    ['empty', '', 'llama.yaml:1:1: the job file is empty'],
    ['only a comment', '# nothing\n', 'llama.yaml:1:1: the job file is empty'],
    ['a null', '~\n', 'llama.yaml:1:1: the job file is empty'],
    ['a list', '- name: a\n', 'llama.yaml:1:1: a job file is a map of fields (name, allocations, ...), not a list'],
    ['a scalar', 'hello\n', 'a job file is a map of fields (name, allocations, ...), not a single value'],
    [
      'a syntax error',
      'name: a\nallocations: [\n',
      'llama.yaml:3:1: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    ['an unclosed quote', 'name: "a\nallocations: {}\n', 'llama.yaml:3:1: not valid YAML: Missing closing "quote'],
    ['a tab indent', 'name: a\nallocations:\n\tweb: {}\n', 'llama.yaml:3:1: not valid YAML'],
    ['two documents', 'name: a\n---\nname: b\n', 'not valid YAML'],
    ['an unknown tag', 'name: !secret a\nallocations: { g: { image: x } }\n', 'llama.yaml:1:7: not valid YAML'],
    ['a NUL byte', 'name: a\u0000\n', 'contains a NUL byte'],
  ];
  it.each(cases)('%s', (_what, text, fragment) => {
    expect(refusal(text).message).toContain(fragment);
  });

  it('refuses a duplicate key, naming it and its line', () => {
    expect(refusal('name: a\nallocations:\n  g:\n    image: x\n    image: y\n').message).toBe(
      "llama.yaml:5:5: duplicate key 'image': each field is given once",
    );
    expect(refusal(withLine(2, 'name: b')).message).toContain("llama.yaml:2:1: duplicate key 'name'");
  });

  it('refuses a file over 1 MiB before parsing it', () => {
    const big = `name: a\nallocations: { g: { image: x } }\n#${'x'.repeat(JOB_FILE_MAX_BYTES)}\n`;
    expect(refusal(big).message).toMatch(/the job file is \d+ bytes; at most 1048576 \(1 MiB\)/);
    // Multi-byte characters count as their bytes.
    const wide = `name: a\n#${'é'.repeat(JOB_FILE_MAX_BYTES / 2)}\n`;
    expect(refusal(wide).message).toContain('at most 1048576');
  });

  it('refuses an alias bomb (billion laughs) without expanding it', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
    const err = refusal(`${lines.join('\n')}\nname: a\n`);
    expect(err.message).toContain('expands its aliases (*name) too often');
  });

  it('refuses a file nested thousands deep with a clear error, not a crash', () => {
    const deep = `name: a\nallocations: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`;
    expect(refusal(deep).message).toMatch(/^llama\.yaml:2:\d+: the job file nests too deeply/);
    const deepMaps = `name: a\nallocations: ${'{a: '.repeat(50_000)}1${'}'.repeat(50_000)}\n`;
    expect(refusal(deepMaps).message).toMatch(/^llama\.yaml:2:\d+: the job file nests too deeply/);
  });

  it('never lets a __proto__ key reach an object prototype', () => {
    const err = refusal('name: a\n__proto__: { polluted: 1 }\nallocations: { g: { image: x } }\n');
    expect(err.message).toContain('__proto__: unknown field');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses text that is not a string', () => {
    expect(() => parseJobFile(42 as unknown as string)).toThrow(/not text/);
  });
});

describe('closestField and formatFieldPath', () => {
  it('suggests close names, known names from other tools, and nothing for far ones', () => {
    const fields = ['count', 'executor', 'image', 'command', 'env', 'resources'];
    expect(closestField('cuont', fields)).toBe('count');
    expect(closestField('Image', fields)).toBe('image');
    expect(closestField('replicas', fields)).toBe('count');
    expect(closestField('environment', fields)).toBe('env');
    expect(closestField('zebra', fields)).toBeUndefined();
    expect(closestField('grace', ['offline_grace'])).toBe('offline_grace');
    expect(closestField('memory_min', ['gpus', 'gpu_memory_min', 'memory'])).toBe('gpu_memory_min');
  });

  it('writes list indexes in brackets and quotes odd keys', () => {
    expect(formatFieldPath(['allocations', 'web', 'resources', 'gpus'])).toBe('allocations.web.resources.gpus');
    expect(formatFieldPath(['constraints', 1])).toBe('constraints[1]');
    expect(formatFieldPath(['pin', 'a b'])).toBe('pin."a b"');
    expect(formatFieldPath([])).toBe('');
  });
});
