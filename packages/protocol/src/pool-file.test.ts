import { describe, expect, it } from 'vitest';
import { FleetError } from './errors.js';
import { parsePoolsFile, POOLS_FILE_MAX_BYTES, SIM_INSTANCE_DEFAULTS, type PoolsFileProblem } from './pool-file.js';
import { POOL_DEFAULTS, PoolsConfig } from './pool-spec.js';

/** The pools file of issue 11, as written there (with the ssh key names Lambda needs). */
const ISSUE_EXAMPLE = `providers:
  lab:   { type: ssh, hosts_file: hosts.yaml }      # existing machines, bootstrapped over SSH
  sim:   { type: sim }                               # simulated hosts, for demos and tests
  lambda: { type: lambda, api_key_env: LAMBDA_API_KEY, ssh_key_names: [ops] }
  aws:   { type: aws, region: us-east-1 }            # credentials from the usual AWS chain
pools:
  training:
    provider: aws
    instance_type: p5.48xlarge
    zones: [us-east-1a, us-east-1b]
    min_nodes: 2
    max_nodes: 100
    cooldown: 10m
    labels: { pool: training }
    autoscaling: { pending_allocations: true, scale_up_at: 80, scale_down_at: 20, idle_for: 30m }
    health: { replace_after: 2m, max_parallel_replacements: 2, max_unavailable: 10% }
    price_per_hour: 98.32          # optional; the provider's own price list where it has one
`;

/** Every field on its own line, so a garbage test can replace one line and expect its number. */
const FULL = [
  'providers:', // 1
  '  sim:', // 2
  '    type: sim', // 3
  '    instance_types:', // 4
  '      sim.h100x8:', // 5
  '        gpu_model: H100', // 6
  '        gpus: 8', // 7
  '        price_per_hour: 24.5', // 8
  '    boot: 2s', // 9
  '    fail_rate: 0.1', // 10
  '    seed: 7', // 11
  '  aws:', // 12
  '    type: aws', // 13
  '    region: us-east-1', // 14
  '    endpoint: http://127.0.0.1:4566', // 15
  '    image_id: ami-0abcdef1234567890', // 16
  '    subnets:', // 17
  '      us-east-1a: subnet-0a1b2c3d4e5f60718', // 18
  '    security_group_ids: [sg-0a1b2c3d4e5f60718]', // 19
  '    key_name: ops', // 20
  '    instance_profile: gpufleet-node', // 21
  'pools:', // 22
  '  demo:', // 23
  '    provider: sim', // 24
  '    instance_type: sim.h100x8', // 25
  '    zones: [sim-a, sim-b]', // 26
  '    image: null', // 27
  '    min_nodes: 4', // 28
  '    max_nodes: 12', // 29
  '    cooldown: 1m', // 30
  '    labels:', // 31
  '      team: demo', // 32
  '    autoscaling:', // 33
  '      pending_allocations: false', // 34
  '      scale_up_at: 75%', // 35
  '      scale_down_at: 10', // 36
  '      idle_for: 5m', // 37
  '      max_step: 3', // 38
  '    health:', // 39
  '      replace_after: 30s', // 40
  '      max_parallel_replacements: 2', // 41
  '      max_unavailable: 2', // 42
  '      join_timeout: 90s', // 43
  '    price_per_hour: 20', // 44
];

function withLine(line: number, text: string): string {
  const lines = [...FULL];
  lines[line - 1] = text;
  return `${lines.join('\n')}\n`;
}

/** The FleetError a file is refused with (the test fails when it is accepted). */
function refusal(text: string, file = 'pools.yaml'): FleetError {
  try {
    parsePoolsFile(text, { file });
  } catch (err) {
    if (err instanceof FleetError) return err;
    throw err;
  }
  throw new Error(`accepted:\n${text}`);
}

function problems(err: FleetError): PoolsFileProblem[] {
  return (err.details as { problems: PoolsFileProblem[] }).problems;
}

describe('parsePoolsFile: good files', () => {
  it('parses the issue example into the normalized config, every default filled in', () => {
    const config = parsePoolsFile(ISSUE_EXAMPLE);
    expect(config.providers).toEqual({
      lab: { type: 'ssh', hostsFile: 'hosts.yaml' },
      sim: { type: 'sim', instanceTypes: {}, bootMs: POOL_DEFAULTS.sim.bootMs, failRate: 0, seed: 'pool' },
      lambda: { type: 'lambda', apiKeyEnv: 'LAMBDA_API_KEY', endpoint: POOL_DEFAULTS.lambdaEndpoint, sshKeyNames: ['ops'] },
      aws: { type: 'aws', region: 'us-east-1', endpoint: null, imageId: null, subnets: {}, securityGroupIds: [], keyName: null, instanceProfile: null },
    });
    expect(config.pools).toEqual({
      training: {
        name: 'training',
        provider: 'aws',
        instanceType: 'p5.48xlarge',
        zones: ['us-east-1a', 'us-east-1b'],
        image: null,
        minNodes: 2,
        maxNodes: 100,
        cooldownMs: 600_000,
        labels: { pool: 'training' },
        autoscaling: { pendingAllocations: true, scaleUpAtPct: 80, scaleDownAtPct: 20, idleForMs: 1_800_000, maxStep: POOL_DEFAULTS.autoscaling.maxStep },
        health: {
          replaceAfterMs: 120_000,
          maxParallelReplacements: 2,
          maxUnavailable: { kind: 'percent', percent: 10 },
          joinTimeoutMs: POOL_DEFAULTS.health.joinTimeoutMs,
        },
        pricePerHour: 98.32,
      },
    });
    expect(PoolsConfig.safeParse(config).success).toBe(true);
  });

  it('reads every field of the one-field-per-line file', () => {
    const config = parsePoolsFile(withLine(1, 'providers:'));
    expect(config.providers.sim).toEqual({
      type: 'sim',
      instanceTypes: { 'sim.h100x8': { gpuModel: 'H100', gpus: 8, pricePerHour: 24.5 } },
      bootMs: 2000,
      failRate: 0.1,
      seed: 7,
    });
    expect(config.providers.aws).toEqual({
      type: 'aws',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:4566',
      imageId: 'ami-0abcdef1234567890',
      subnets: { 'us-east-1a': 'subnet-0a1b2c3d4e5f60718' },
      securityGroupIds: ['sg-0a1b2c3d4e5f60718'],
      keyName: 'ops',
      instanceProfile: 'gpufleet-node',
    });
    expect(config.pools.demo).toEqual({
      name: 'demo',
      provider: 'sim',
      instanceType: 'sim.h100x8',
      zones: ['sim-a', 'sim-b'],
      image: null,
      minNodes: 4,
      maxNodes: 12,
      cooldownMs: 60_000,
      labels: { team: 'demo', pool: 'demo' },
      autoscaling: { pendingAllocations: false, scaleUpAtPct: 75, scaleDownAtPct: 10, idleForMs: 300_000, maxStep: 3 },
      health: { replaceAfterMs: 30_000, maxParallelReplacements: 2, maxUnavailable: { kind: 'count', count: 2 }, joinTimeoutMs: 90_000 },
      pricePerHour: 20,
    });
  });

  it('fills every default for the smallest pool; without autoscaling a pool holds its size', () => {
    const config = parsePoolsFile('providers: { s: { type: sim } }\npools: { p: { provider: s, instance_type: x, max_nodes: 3 } }\n');
    expect(config.pools.p).toEqual({
      name: 'p',
      provider: 's',
      instanceType: 'x',
      zones: [],
      image: null,
      minNodes: 0,
      maxNodes: 3,
      cooldownMs: POOL_DEFAULTS.cooldownMs,
      labels: { pool: 'p' },
      autoscaling: null,
      health: { ...POOL_DEFAULTS.health, maxUnavailable: { ...POOL_DEFAULTS.health.maxUnavailable } },
      pricePerHour: null,
    });
  });

  it('gives `autoscaling: {}` every autoscaling default, and a sim instance type its defaults', () => {
    const config = parsePoolsFile(
      'providers: { s: { type: sim, instance_types: { big: {} } } }\npools: { p: { provider: s, instance_type: big, max_nodes: 3, autoscaling: {} } }\n',
    );
    expect(config.pools.p!.autoscaling).toEqual(POOL_DEFAULTS.autoscaling);
    expect(config.providers.s).toMatchObject({ instanceTypes: { big: { ...SIM_INSTANCE_DEFAULTS } } });
  });

  it('takes max_unavailable as a count or a share, percents with or without %, and ~ for "never"', () => {
    const pool = (extra: string) =>
      parsePoolsFile(`providers: { s: { type: sim } }\npools: { p: { provider: s, instance_type: x, max_nodes: 3, ${extra} } }\n`).pools.p!;
    expect(pool('health: { max_unavailable: 25% }').health.maxUnavailable).toEqual({ kind: 'percent', percent: 25 });
    expect(pool('health: { max_unavailable: "3" }').health.maxUnavailable).toEqual({ kind: 'count', count: 3 });
    expect(pool('health: { max_unavailable: 0 }').health.maxUnavailable).toEqual({ kind: 'count', count: 0 });
    expect(pool('autoscaling: { scale_up_at: 90%, scale_down_at: ~ }').autoscaling).toMatchObject({ scaleUpAtPct: 90, scaleDownAtPct: null });
  });

  it('keeps label values written as numbers or booleans as the text written', () => {
    const config = parsePoolsFile(
      'providers: { s: { type: sim } }\npools: { p: { provider: s, instance_type: x, max_nodes: 3, labels: { gen: 05, spot: true } } }\n',
    );
    expect(config.pools.p!.labels).toEqual({ gen: '05', spot: 'true', pool: 'p' });
  });

  it('takes a single string where a list is expected, and an empty file of pools', () => {
    const config = parsePoolsFile(
      'providers: { l: { type: lambda, api_key_env: K, ssh_key_names: ops } }\npools: { p: { provider: l, instance_type: x, max_nodes: 1, zones: us-west-1 } }\n',
    );
    expect(config.providers.l).toMatchObject({ sshKeyNames: ['ops'] });
    expect(config.pools.p!.zones).toEqual(['us-west-1']);
    expect(parsePoolsFile('providers: {}\n')).toEqual({ providers: {}, pools: {} });
  });
});

describe('parsePoolsFile: garbage is refused naming the file, line, column and field', () => {
  const cases: Array<[string, number, string, RegExp]> = [
    ['an unknown provider type', 3, '    type: gcp', /^pools\.yaml:3:11: providers\.sim\.type: 'gcp' is not one of sim, ssh, lambda, aws$/],
    ['a provider type from elsewhere', 3, '    type: ec2', /providers\.sim\.type: 'ec2' is not one of .* \(did you mean aws\?\)/],
    [
      'a sim GPU count that is text',
      7,
      '        gpus: eight',
      /^pools\.yaml:7:15: providers\.sim\.instance_types\."sim\.h100x8"\.gpus: expected a number, got the text 'eight'/,
    ],
    ['a sim GPU count of zero', 7, '        gpus: 0', /^pools\.yaml:7:15: providers\.sim\.instance_types\."sim\.h100x8"\.gpus: must be at least 1/],
    [
      'a negative sim price',
      8,
      '        price_per_hour: -1',
      /^pools\.yaml:8:25: providers\.sim\.instance_types\."sim\.h100x8"\.price_per_hour: must be at least 0/,
    ],
    ['a boot time without unit', 9, '    boot: 2', /^pools\.yaml:9:11: providers\.sim\.boot: '2' needs a unit/],
    ['a fail rate above 1', 10, '    fail_rate: 1.5', /^pools\.yaml:10:16: providers\.sim\.fail_rate: must be at most 1/],
    ['a seed that is a list', 11, '    seed: [1]', /^pools\.yaml:11:11: providers\.sim\.seed: /],
    ['a region that is not one', 14, '    region: mars', /^pools\.yaml:14:13: providers\.aws\.region: an AWS region such as us-east-1/],
    ['an endpoint that is not a URL', 15, '    endpoint: localhost', /^pools\.yaml:15:15: providers\.aws\.endpoint: 'localhost' is not valid/],
    ['an AMI that is not one', 16, '    image_id: ubuntu', /^pools\.yaml:16:15: providers\.aws\.image_id: an AMI id such as ami-0abcdef1234567890/],
    ['a subnet that is not one', 18, '      us-east-1a: net-1', /^pools\.yaml:18:19: providers\.aws\.subnets\.us-east-1a: /],
    ['a security group that is not one', 19, '    security_group_ids: [default]', /^pools\.yaml:19:26: providers\.aws\.security_group_ids\[0\]: /],
    [
      'an unknown provider field',
      21,
      '    instance_role: x',
      /^pools\.yaml:21:5: providers\.aws\.instance_role: unknown field \(did you mean instance_profile\?\)/,
    ],
    [
      'a pool naming a provider the file lacks',
      24,
      '    provider: gcp',
      /^pools\.yaml:24:15: pools\.demo\.provider: 'gcp' is not a provider of this file \(its providers are sim, aws\)$/,
    ],
    ['an empty instance type', 25, "    instance_type: ''", /^pools\.yaml:25:20: pools\.demo\.instance_type: must not be empty/],
    ['zones that are a map', 26, '    zones: { a: 1 }', /^pools\.yaml:26:12: pools\.demo\.zones: expected a list, got a map/],
    ['min_nodes above max_nodes', 28, '    min_nodes: 13', /^pools\.yaml:28:16: pools\.demo\.min_nodes: 13 is above max_nodes \(12\)$/],
    ['a fraction of a node', 28, '    min_nodes: 1.5', /^pools\.yaml:28:16: pools\.demo\.min_nodes: '1\.5' is not a whole number/],
    ['a negative max', 29, '    max_nodes: -1', /^pools\.yaml:29:16: pools\.demo\.max_nodes: must be at least 0/],
    ['max_nodes as text', 29, '    max_nodes: many', /^pools\.yaml:29:16: pools\.demo\.max_nodes: expected a number, got the text 'many'/],
    ['a cooldown with a bad unit', 30, '    cooldown: 10 min', /^pools\.yaml:30:15: pools\.demo\.cooldown: '10 min' is not a duration/],
    ['a cooldown over 30 days', 30, '    cooldown: 31d', /^pools\.yaml:30:15: pools\.demo\.cooldown: '31d' is longer than the 30d limit/],
    ['a label value that is a list', 32, '      team: [a]', /^pools\.yaml:32:13: pools\.demo\.labels\.team: expected text, got a list/],
    ['a bad label key', 32, '      "-team": demo', /^pools\.yaml:32:7: pools\.demo\.labels\.-team: not a valid label key/],
    ['a pool label naming another pool', 32, '      pool: other', /^pools\.yaml:32:13: pools\.demo\.labels\.pool: 'other' is not this pool's name/],
    ['an image that is a list', 27, '    image: [a]', /^pools\.yaml:27:12: pools\.demo\.image: expected text, got a list/],
    [
      'pending_allocations as text',
      34,
      '      pending_allocations: yes',
      /^pools\.yaml:34:28: pools\.demo\.autoscaling\.pending_allocations: expected true or false, got the text 'yes'/,
    ],
    ['a percent above 100', 35, '      scale_up_at: 180%', /^pools\.yaml:35:20: pools\.demo\.autoscaling\.scale_up_at: must be at most 100/],
    [
      'a percent in words',
      35,
      '      scale_up_at: most',
      /^pools\.yaml:35:20: pools\.demo\.autoscaling\.scale_up_at: 'most' is not a percent such as 80 or 80%/,
    ],
    ['a negative percent', 36, '      scale_down_at: -5', /^pools\.yaml:36:22: pools\.demo\.autoscaling\.scale_down_at: must be at least 0/],
    ['idle_for as a number', 37, '      idle_for: 300', /^pools\.yaml:37:17: pools\.demo\.autoscaling\.idle_for: '300' needs a unit/],
    ['a max step of zero', 38, '      max_step: 0', /^pools\.yaml:38:17: pools\.demo\.autoscaling\.max_step: must be at least 1/],
    [
      'replace_after with units out of order',
      40,
      '      replace_after: 30s1m',
      /^pools\.yaml:40:22: pools\.demo\.health\.replace_after: '30s1m': write the units from the largest/,
    ],
    [
      'negative parallel replacements',
      41,
      '      max_parallel_replacements: -1',
      /^pools\.yaml:41:34: pools\.demo\.health\.max_parallel_replacements: must be at least 0/,
    ],
    [
      'max_unavailable in words',
      42,
      '      max_unavailable: ten percent',
      /^pools\.yaml:42:24: pools\.demo\.health\.max_unavailable: 'ten percent' is not a number of nodes \(2\) or a share of the pool \(10%\)/,
    ],
    ['max_unavailable above 100%', 42, '      max_unavailable: 150%', /^pools\.yaml:42:24: pools\.demo\.health\.max_unavailable: must be at most 100/],
    [
      'max_unavailable a fraction of a node',
      42,
      '      max_unavailable: 1.5',
      /^pools\.yaml:42:24: pools\.demo\.health\.max_unavailable: '1\.5' is not a whole number/,
    ],
    [
      'a join timeout under a second',
      43,
      '      join_timeout: 500ms',
      /^pools\.yaml:43:21: pools\.demo\.health\.join_timeout: '500ms' is below the minimum of 1s/,
    ],
    ['a price as text', 44, '    price_per_hour: cheap', /^pools\.yaml:44:21: pools\.demo\.price_per_hour: expected a number, got the text 'cheap'/],
    ['an unknown pool field from another tool', 27, '    ami: ami-1', /^pools\.yaml:27:5: pools\.demo\.ami: unknown field \(did you mean image\?\)/],
    ['a misspelled pool field', 30, '    cooldwon: 1m', /^pools\.yaml:30:5: pools\.demo\.cooldwon: unknown field \(did you mean cooldown\?\)/],
    ['an unknown health field', 43, '      grace: 90s', /^pools\.yaml:43:7: pools\.demo\.health\.grace: unknown field/],
    ['a pool name in capitals', 23, '  Demo:', /^pools\.yaml:23:3: pools\.Demo: a pool name is lowercase letters, digits and dashes/],
    ['a provider name with a space', 2, '  "my sim":', /^pools\.yaml:2:3: providers\."my sim": a provider name is lowercase letters/],
  ];

  for (const [what, line, text, expected] of cases) {
    it(`${what} (line ${line})`, () => {
      const err = refusal(withLine(line, text));
      expect(err.code).toBe('invalid_argument');
      expect(err.message).toMatch(expected);
      expect(problems(err)[0]!.line).toBe(line);
    });
  }

  it('a zone outside the AWS provider region is named by its index', () => {
    const text = ISSUE_EXAMPLE.replace('us-east-1b]', 'eu-west-1b]');
    expect(refusal(text).message).toMatch(
      /^pools\.yaml:10:25: pools\.training\.zones\[1\]: 'eu-west-1b' is not a zone of us-east-1 \(provider aws's region\)$/,
    );
  });

  it('zones of the region are taken (local zones too), and a zone of a longer region name is not', () => {
    const zones = (list: string) => ISSUE_EXAMPLE.replace('[us-east-1a, us-east-1b]', list);
    expect(parsePoolsFile(zones('[us-east-1c, us-east-1-bos-1a]')).pools.training!.zones).toEqual(['us-east-1c', 'us-east-1-bos-1a']);
    expect(refusal(zones('[us-east-10a]')).message).toMatch(/pools\.training\.zones\[0\]: 'us-east-10a' is not a zone of us-east-1/);
    expect(refusal(zones('[us-east-1]')).message).toMatch(/pools\.training\.zones\[0\]: 'us-east-1' is not a zone of us-east-1/);
  });

  it('a provider without its type, or without a required field, names the provider', () => {
    expect(refusal('providers:\n  s: { seed: 1 }\n').message).toMatch(/^pools\.yaml:2:3: providers\.s\.type: required: one of sim, ssh, lambda, aws/);
    expect(refusal('providers:\n  l: { type: lambda, api_key_env: K }\n').message).toMatch(/^pools\.yaml:2:3: providers\.l\.ssh_key_names: required/);
    expect(refusal('providers:\n  l: { type: lambda, api_key_env: K, ssh_key_names: [] }\n').message).toMatch(
      /providers\.l\.ssh_key_names: needs at least 1 item/,
    );
    expect(refusal('providers:\n  l: { type: lambda, api_key_env: "my key", ssh_key_names: [a] }\n').message).toMatch(
      /providers\.l\.api_key_env: an environment variable name/,
    );
    expect(refusal('providers:\n  a: { type: aws }\n').message).toMatch(/^pools\.yaml:2:3: providers\.a\.region: required/);
  });

  it('a field of another provider type is unknown, with the fields of this one listed', () => {
    const err = refusal('providers:\n  s:\n    type: ssh\n    hosts_file: h.yaml\n    region: us-east-1\n');
    expect(err.message).toBe('pools.yaml:5:5: providers.s.region: unknown field (the fields here are type, hosts_file)');
  });

  it('a pool without provider, instance type or max names each, and counts the others', () => {
    const err = refusal('providers: { s: { type: sim } }\npools:\n  p: { min_nodes: 1 }\n');
    expect(err.message).toMatch(/^pools\.yaml:3:3: pools\.p\.provider: required \(and 2 more problems\)$/);
    expect(problems(err).map((p) => p.path)).toEqual(['pools.p.provider', 'pools.p.instance_type', 'pools.p.max_nodes']);
  });

  it('a pool whose provider is missing and whose range is upside down gets both problems', () => {
    const err = refusal('providers: {}\npools:\n  p:\n    provider: nope\n    instance_type: x\n    min_nodes: 5\n    max_nodes: 1\n');
    expect(problems(err).map((p) => `${p.line}:${p.path}: ${p.message}`)).toEqual([
      "4:pools.p.provider: 'nope' is not a provider of this file (it defines no providers)",
      '6:pools.p.min_nodes: 5 is above max_nodes (1)',
    ]);
  });

  it('autoscaling that is a list, and max_size for max_nodes, are named', () => {
    const head = 'providers: { s: { type: sim } }\npools:\n  p:\n    provider: s\n    instance_type: x\n';
    expect(refusal(`${head}    max_nodes: 2\n    autoscaling: [on]\n`).message).toBe('pools.yaml:7:18: pools.p.autoscaling: expected a map, got a list');
    const err = refusal(`${head}    max_size: 2\n`);
    expect(problems(err).map((p) => `${p.line}:${p.col}: ${p.path}: ${p.message}`)).toEqual([
      '3:3: pools.p.max_nodes: required',
      '6:5: pools.p.max_size: unknown field (did you mean max_nodes?)',
    ]);
  });

  it('an unknown top-level field suggests the one meant', () => {
    expect(refusal('provider: {}\n').message).toBe('pools.yaml:1:1: provider: unknown field (did you mean providers?)');
  });

  it('uses no file name when none is given', () => {
    try {
      parsePoolsFile('pools: 3\n');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toBe('line 1:8: pools: expected a map, got the number 3');
    }
  });
});

describe('parsePoolsFile: files that are not pools files', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['empty', '', /^pools\.yaml:1:1: the pools file is empty$/],
    ['a list', '- a\n', /^pools\.yaml:1:1: a pools file is a map of fields \(providers, pools\), not a list$/],
    ['a single value', 'hello\n', /a pools file is a map of fields \(providers, pools\), not a single value/],
    ['broken YAML', 'providers: {\n', /^pools\.yaml:\d+:\d+: not valid YAML/],
    ['a tab-indented map', 'providers:\n\ts: {}\n', /not valid YAML/],
    ['a duplicate key', 'providers: {}\nproviders: {}\n', /^pools\.yaml:2:1: duplicate key 'providers': each field is given once/],
    ['a NUL byte', 'providers: {}\u0000', /contains a NUL byte/],
    ['not text', 42, /the pools file is not text/],
    [
      'an alias bomb',
      `a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`,
      /expands its aliases/,
    ],
  ];
  for (const [what, text, expected] of cases) {
    it(what, () => {
      expect(refusal(text as string).message).toMatch(expected);
    });
  }

  it('refuses a file over 1 MiB before parsing it', () => {
    const big = `providers: {}\n#${'x'.repeat(POOLS_FILE_MAX_BYTES)}\n`;
    expect(refusal(big).message).toMatch(/the pools file is \d+ bytes; at most 1048576 \(1 MiB\)/);
  });

  it('never lets a __proto__ key reach an object prototype', () => {
    const err = refusal('providers: {}\npools:\n  __proto__: { provider: x }\n');
    expect(err.message).toBe('pools.yaml:3:14: pools.__proto__: not a name a pools file may use');
    expect(({} as Record<string, unknown>).provider).toBeUndefined();
  });
});
