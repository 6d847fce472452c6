import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { detailOf, opOf, poolOf, poolsCli } from '../testing/pools-cli-harness.js';

const cli = poolsCli();

describe('gpufleet pools ls', () => {
  it('shows each pool in 80 columns: provider, ready/desired (min..max), GPUs, allocated %, $/h, in flight', async () => {
    cli.api.json.set('GET /api/v1/pools', () => ({
      body: {
        items: [
          poolOf('training'),
          poolOf('inference', {
            provider: 'lambda',
            allocatedPct: null,
            costPerHour: null,
            inFlight: 0,
            ready: 1,
            desired: 1,
            minNodes: 1,
            maxNodes: 8,
            gpus: 1,
          }),
        ],
      },
    }));
    const r = await cli.run(['pools', 'ls'], { columns: 80 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^POOL\s+PROVIDER\s+READY\/DESIRED \(MIN\.\.MAX\)\s+GPUS\s+ALLOC%\s+\$\/H\s+IN-FLIGHT$/);
    expect(lines[1]).toMatch(/^training\s+aws\s+5\/8 \(2\.\.100\)\s+40\s+63%\s+491\.60\s+3$/);
    expect(lines[2]).toMatch(/^inference\s+lambda\s+1\/1 \(1\.\.8\)\s+1\s+-\s+-\s+0$/);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    // Nothing cut to fit: no ellipsis in an 80-column terminal.
    expect(r.stdout).not.toContain('…');
  });

  it('adds type, who set the size and the last scale with -o wide; the data with -o json and -o yaml', async () => {
    cli.api.json.set('GET /api/v1/pools', () => ({ body: { items: [poolOf('training')] } }));
    const wide = await cli.run(['pools', 'ls', '-o', 'wide']);
    expect(wide.stdout).toMatch(/TYPE\s+DESIRED BY\s+LAST SCALE\n/);
    expect(wide.stdout).toMatch(/aws p5\.48xlarge\s+manual\s+10m ago/);
    const json = await cli.run(['pools', 'ls', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({ items: [poolOf('training')] });
    const yaml = await cli.run(['pools', 'ls', '-o', 'yaml']);
    expect(parseYaml(yaml.stdout)).toEqual({ items: [poolOf('training')] });
  });

  it('says how to start when there are no pools', async () => {
    cli.api.json.set('GET /api/v1/pools', () => ({ body: { items: [] } }));
    const r = await cli.run(['pools', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no pools yet (apply a pools file: gpufleet pools apply FILE');
  });
});

describe('gpufleet pools get', () => {
  it('shows the summary, live members and operations in flight with their stage, then the last that ended', async () => {
    cli.api.json.set('GET /api/v1/pools/training', () => ({ body: detailOf() }));
    const r = await cli.run(['pools', 'get', 'training']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toContain('Pool:        training\n');
    expect(out).toContain('Provider:    aws (aws), p5.48xlarge, zones us-east-1a, us-east-1b\n');
    expect(out).toContain('Size:        5 ready of 8 desired (2..100), 6 in any state; desired is set by pools scale: "demo tomorrow"\n');
    expect(out).toContain('GPUs:        40, 63% allocated; $491.60/h\n');
    expect(out).toContain('Autoscaling: grows for pending allocations, up at 80% allocated, down at 20% after 30m idle\n');
    expect(out).toContain('Health:      replace after 2m unhealthy, 2 replacements at a time, at most 10% unavailable, join within 10m\n');
    expect(out).toContain('Labels:      pool=training, team=research\n');
    expect(out).toContain('Members (2):\n');
    expect(out).toMatch(/ {2}i-0abc1\s+train-1\s+active\s+CORDONED\s+unhealthy\s+1\s+us-east-1a\s+10m\n/);
    expect(out).not.toContain('i-0abc3');
    expect(out).toContain('In flight (1):\n');
    expect(out).toMatch(/ {2}replace\s+joining\s+train-1\s+i-0new1\s+us-east-1b\s+2\s+10m\s+unhealthy for 2m: XID 79\n/);
    expect(out).toMatch(/Recently ended:\n.*\n {2}provision\s+failed\s+-\s+i-0new1.*capacity: no p5 in us-east-1a\)\n/);
  });

  it('names the nodes of an operation by hostname, and a node the fleet removed by the start of its id', async () => {
    const did = 'did:key:z6MkvVNfzTypr2FxGXuUN52FJKnx3k76t9LMU6aGEq6gUsMS';
    cli.api.json.set('GET /api/v1/pools/training', () => ({
      body: detailOf({
        operations: [
          opOf('op-a', { stage: 'done', oldNodeId: 'did:key:z6MkOld1', oldHostname: 'train-old', newNodeId: 'did:key:z6MkNew1', newHostname: 'train-new' }),
          opOf('op-b', { stage: 'done', oldNodeId: did, oldHostname: null }),
        ],
      }),
    }));
    const r = await cli.run(['pools', 'get', 'training', '-o', 'wide']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ {2}replace\s+done\s+train-old\s+.*\s+train-new\s/);
    expect(r.stdout).toMatch(/ {2}replace\s+done\s+did:key:z6MkvVNf\s/);
    expect(r.stdout).not.toContain(did);
  });

  it('says a pool without autoscaling holds its size, and shows nothing in flight', async () => {
    cli.api.json.set('GET /api/v1/pools/small', () => ({
      body: detailOf({
        name: 'small',
        autoscaling: null,
        operations: [],
        members: [],
        desiredSource: 'min',
        manualReason: null,
        costPerHour: null,
        allocatedPct: null,
      }),
    }));
    const r = await cli.run(['pools', 'get', 'small']);
    expect(r.stdout).toContain('Autoscaling: off (the pool holds its desired size)\n');
    expect(r.stdout).toContain('desired is the floor (min_nodes)\n');
    expect(r.stdout).toContain('GPUs:        40; cost unknown\n');
    expect(r.stdout).toContain('Members (0):\n  none\n');
    expect(r.stdout).toContain('In flight (0):\n  none\n');
    expect(r.stdout).not.toContain('Recently ended');
  });

  it('prints the detail as data with -o yaml, escapes control characters from the server, and reports an unknown pool', async () => {
    cli.api.json.set('GET /api/v1/pools/training', () => ({ body: detailOf({ manualReason: 'evil\u001b[2Jreason' }) }));
    const yaml = await cli.run(['pools', 'get', 'training', '-o', 'yaml']);
    expect(parseYaml(yaml.stdout).members).toHaveLength(3);
    const text = await cli.run(['pools', 'get', 'training']);
    expect(text.stdout).toContain('evil\\x1b[2Jreason');
    expect(text.stdout).not.toContain('\u001b');
    cli.api.json.set('GET /api/v1/pools/nope', () => ({ status: 404, body: { error: { code: 'not_found', message: "no pool 'nope'" } } }));
    const missing = await cli.run(['pools', 'get', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no pool 'nope'");
  });
});

describe('gpufleet pools scale and replace', () => {
  it('scales with --to and --reason and says what it asked for', async () => {
    cli.api.json.set('POST /api/v1/pools/training/scale', (req) => ({ body: poolOf('training', { desired: req.body.to }) }));
    const r = await cli.run(['pools', 'scale', 'training', '--to', '8', '--reason', 'demo tomorrow']);
    expect(r.code, r.stderr).toBe(0);
    expect(cli.posted('/api/v1/pools/training/scale')).toEqual([{ to: 8, reason: 'demo tomorrow' }]);
    expect(r.stdout).toBe('pool training scaling to 8: now 5/8 (2..100)\n');
    const json = await cli.run(['pools', 'scale', 'training', '--to', '3', '--reason', 'x', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'training', desired: 3 });
  });

  it("passes on the server's refusal (exit 1)", async () => {
    cli.api.json.set('POST /api/v1/pools/training/scale', () => ({
      status: 400,
      body: { error: { code: 'invalid_argument', message: "pool 'training' takes 2..100 nodes, not 200" } },
    }));
    const r = await cli.run(['pools', 'scale', 'training', '--to', '200', '--reason', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("pool 'training' takes 2..100 nodes, not 200");
  });

  it('replaces a node and names the operation', async () => {
    cli.api.json.set('POST /api/v1/pools/training/replace', () => ({ body: opOf('op-7', { stage: 'requested', oldNodeId: 'train-1' }) }));
    const r = await cli.run(['pools', 'replace', 'training', 'train-1', '--reason', 'fans failing']);
    expect(r.code, r.stderr).toBe(0);
    expect(cli.posted('/api/v1/pools/training/replace')).toEqual([{ node: 'train-1', reason: 'fans failing' }]);
    expect(r.stdout).toBe('replacing train-1 in pool training: operation op-7, stage requested\n');
  });

  it.each([
    [['pools', 'scale', 'training', '--reason', 'x'], "error: required option '--to <n>' not specified"],
    [['pools', 'scale', 'training', '--to', '8'], "error: required option '--reason <text>' not specified"],
    [['pools', 'scale', 'training', '--to', 'eight', '--reason', 'x'], "error: --to 'eight' must be a whole number from 0 to 100000"],
    [['pools', 'scale', 'training', '--to', '-1', '--reason', 'x'], 'error:'],
    [['pools', 'scale', 'training', '--to', '2.5', '--reason', 'x'], "error: --to '2.5' must be a whole number"],
    [['pools', 'scale', 'training', '--to', '100001', '--reason', 'x'], "error: --to '100001' must be a whole number from 0 to 100000"],
    [['pools', 'scale', 'training', '--to', '8', '--reason', '  '], 'error: --reason is required: say why'],
    [['pools', 'scale', 'training', '--to', '8', '--reason', 'r'.repeat(501)], 'error: --reason is at most 500 characters'],
    [['pools', 'scale', 'Training', '--to', '8', '--reason', 'x'], "error: 'Training' is not a pool name"],
    [['pools', 'scale', 'training', '--to', '8', '--reason', 'x', '--force'], "error: unknown option '--force'"],
    [['pools', 'scale', '--to', '1', '--reason', 'x'], "error: missing required argument 'name'"],
    [['pools', 'replace', 'training', 'train-1'], "error: required option '--reason <text>' not specified"],
    [['pools', 'replace', 'training', '--reason', 'x'], "error: missing required argument 'node'"],
    [['pools', 'replace', 'training', ' ', '--reason', 'x'], 'error: <node> is a node hostname or id'],
    [['pools', 'replace', '../x', 'n', '--reason', 'x'], "error: '../x' is not a pool name"],
    [['pools', 'get', 'a_b'], "error: 'a_b' is not a pool name"],
    [['pools', 'get'], "error: missing required argument 'name'"],
    [['pools', 'events', 'training', '--limit', '0'], "error: --limit '0' must be a whole number from 1 to 1000"],
    [['pools', 'events', 'training', '--limit', '5000'], "error: --limit '5000' must be a whole number from 1 to 1000"],
    [['pools', 'events', 'training', '--interval', '5ms'], "error: --interval '5ms' must be from 100ms to 1m"],
    [['pools', 'events', 'training', '--interval', 'soon'], "error: --interval 'soon' is not a duration"],
    [['pools', 'frobnicate'], 'error: unknown command'],
  ])('refuses %j before sending anything (exit 2)', async (argv, message) => {
    const r = await cli.run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(cli.api.requests).toHaveLength(0);
  });
});
