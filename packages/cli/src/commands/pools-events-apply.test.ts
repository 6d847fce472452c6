import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureIo } from '../testing/capture-io.js';
import { eventOf, POOLS_FILE, poolsCli } from '../testing/pools-cli-harness.js';

const cli = poolsCli();

describe('gpufleet pools events', () => {
  it("prints a pool's newest events, one line each with when, kind and reason", async () => {
    cli.api.json.set('GET /api/v1/pools/training/events', () => ({
      body: { items: [eventOf(1), eventOf(2, 'training', { kind: 'replace-started', message: 'replace train-1: unhealthy for 2m' })], next: 2 },
    }));
    const r = await cli.run(['pools', 'events', 'training', '--limit', '20']);
    expect(r.code, r.stderr).toBe(0);
    expect(cli.api.requests[0]!.query).toEqual({ limit: '20' });
    expect(r.stdout).toBe(
      '2026-12-05 12:00:00  scale-up          scale up 2: 5 allocations pending, no free H100 (#1)\n2026-12-05 12:00:00  replace-started   replace train-1: unhealthy for 2m\n',
    );
  });

  it('shows every pool with the pool named, the page as data with -o json, and says when there is nothing', async () => {
    cli.api.json.set('GET /api/v1/pool-events', () => ({ body: { items: [eventOf(1, 'training'), eventOf(2, 'inference')], next: 2 } }));
    const all = await cli.run(['pools', 'events']);
    expect(all.stdout).toMatch(/^2026-12-05 12:00:00 {2}training {2}scale-up/);
    expect(all.stdout).toMatch(/\n2026-12-05 12:00:00 {2}inference {2}scale-up/);
    expect(cli.api.requests[0]!.query).toEqual({ limit: '50' });
    const json = await cli.run(['pools', 'events', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({ items: [eventOf(1, 'training'), eventOf(2, 'inference')], next: 2 });
    cli.api.json.set('GET /api/v1/pools/quiet/events', () => ({ body: { items: [], next: null } }));
    const none = await cli.run(['pools', 'events', 'quiet']);
    expect(none.code).toBe(0);
    expect(none.stderr).toContain('no events yet for pool quiet');
  });

  it('-f follows: the newest page, then new events from the cursor, until Ctrl-C (exit 0)', async () => {
    const io = captureIo({ home: cli.home, cwd: cli.home, columns: 200 });
    let polls = 0;
    cli.api.json.set('GET /api/v1/pools/training/events', (req) => {
      if (req.query.after === undefined) return { body: { items: [eventOf(1), eventOf(2)], next: 2 } };
      polls++;
      if (polls === 1) return { body: { items: [eventOf(3)], next: 3 } };
      if (polls === 2) return { body: { items: [], next: 3 } };
      io.interrupt();
      return { body: { items: [eventOf(4)], next: 4 } };
    });
    const r = await cli.run(['pools', 'events', 'training', '-f', '--interval', '100ms'], {}, io);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/\(#\d\)/g)).toEqual(['(#1)', '(#2)', '(#3)', '(#4)']);
    // Each poll asks from where the last page ended.
    expect(cli.api.requests.map((q) => q.query.after)).toEqual([undefined, '2', '3', '3']);
  });

  it('-f -o json prints one JSON object per event line', async () => {
    const io = captureIo({ home: cli.home, cwd: cli.home, columns: 200 });
    cli.api.json.set('GET /api/v1/pools/training/events', (req) => {
      if (req.query.after !== undefined) io.interrupt();
      return { body: req.query.after === undefined ? { items: [eventOf(1)], next: 1 } : { items: [eventOf(2)], next: 2 } };
    });
    const r = await cli.run(['pools', 'events', 'training', '-f', '--interval', '100ms', '-o', 'json'], {}, io);
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual([1, 2]);
  });

  it('-f ends with the error when the server goes away', async () => {
    let n = 0;
    cli.api.json.set('GET /api/v1/pools/training/events', () =>
      n++ === 0 ? { body: { items: [], next: null } } : { status: 404, body: { error: { code: 'not_found', message: "no pool 'training'" } } },
    );
    const r = await cli.run(['pools', 'events', 'training', '-f', '--interval', '100ms']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no pool 'training'");
    expect(cli.api.requests[1]!.query).toEqual({ after: '0', limit: '1000' });
  });
});

describe('gpufleet pools apply', () => {
  it('checks the file here, sends its text with its name and folder, and prints what changed', async () => {
    cli.api.json.set('POST /api/v1/pools/apply', () => ({
      body: {
        pools: [
          { name: 'demo', change: 'created' },
          { name: 'old', change: 'removed' },
          { name: 'same', change: 'unchanged' },
        ],
        providers: [{ name: 'sim', change: 'unchanged' }],
      },
    }));
    const r = await cli.run(['pools', 'apply', 'pools.yaml']);
    expect(r.code, r.stderr).toBe(0);
    // The server is on loopback: relative paths in the file resolve in the file's folder.
    expect(cli.posted('/api/v1/pools/apply')).toEqual([{ source: POOLS_FILE, filename: 'pools.yaml', baseDir: cli.home }]);
    expect(r.stdout).toBe('1 provider unchanged\npool demo created\npool old removed\n1 pool unchanged\n');
  });

  it('reads stdin with -, takes --base-dir, and prints the result as data with -o json', async () => {
    cli.api.json.set('POST /api/v1/pools/apply', () => ({ body: { pools: [{ name: 'demo', change: 'updated' }], providers: [] } }));
    const r = await cli.run(['pools', 'apply', '-', '--base-dir', '/etc/gpufleet', '-o', 'json'], { stdin: POOLS_FILE });
    expect(r.code, r.stderr).toBe(0);
    expect(cli.posted('/api/v1/pools/apply')).toEqual([{ source: POOLS_FILE, filename: 'stdin', baseDir: '/etc/gpufleet' }]);
    expect(JSON.parse(r.stdout)).toEqual({ pools: [{ name: 'demo', change: 'updated' }], providers: [] });
    const relative = await cli.run(['pools', 'apply', 'pools.yaml', '--base-dir', 'conf']);
    expect(relative.code).toBe(0);
    expect(cli.posted('/api/v1/pools/apply')[1]).toMatchObject({ baseDir: join(cli.home, 'conf') });
  });

  it('says when the server refuses (a non-admin token)', async () => {
    cli.api.json.set('POST /api/v1/pools/apply', () => ({
      status: 403,
      body: { error: { code: 'permission_denied', message: 'this route needs an admin token' } },
    }));
    const r = await cli.run(['pools', 'apply', 'pools.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('this route needs an admin token');
  });

  it.each([
    [['pools', 'apply', 'bad.yaml'], 'error: bad.yaml:7:16: pools.demo.min_nodes: 40 is above max_nodes (12)'],
    [['pools', 'apply', 'missing.yaml'], 'error: cannot read pools file missing.yaml: no such file'],
    [['pools', 'apply', '.'], 'error: . is a folder, not a pools file'],
    [['pools', 'apply', 'huge.yaml'], /error: huge\.yaml is \d+ bytes; a pools file is at most 1 MiB/],
    [['pools', 'apply'], "error: missing required argument 'file'"],
  ])('refuses %j before sending anything (exit 2)', async (argv, message) => {
    const r = await cli.run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(typeof message === 'string' ? new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : message);
    expect(cli.api.requests).toHaveLength(0);
  });

  it('refuses empty or broken stdin (exit 2)', async () => {
    expect((await cli.run(['pools', 'apply', '-'], { stdin: '' })).stderr).toContain('error: no pools file on stdin');
    const broken = await cli.run(['pools', 'apply', '-'], { stdin: 'pools: [' });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/error: stdin:\d+:\d+: not valid YAML/);
    expect(cli.api.requests).toHaveLength(0);
  });
});

describe('gpufleet pools --help', () => {
  it('teaches with examples, on the group and on each command', async () => {
    const group = await cli.run(['pools', '--help']);
    expect(group.code).toBe(0);
    for (const sub of ['ls', 'get', 'scale', 'events', 'apply', 'replace']) expect(group.stdout).toMatch(new RegExp(`\\n {2}${sub}\\b`));
    expect(group.stdout).toContain('gpufleet pools scale training --to 8 --reason "demo tomorrow"');
    const scale = await cli.run(['pools', 'scale', '--help']);
    expect(scale.stdout).toContain('--to <n>');
    expect(scale.stdout).toContain('Examples:\n  gpufleet pools scale training --to 8 --reason "demo tomorrow"');
    const events = await cli.run(['pools', 'events', '--help']);
    expect(events.stdout).toContain('gpufleet pools events training -f');
    const top = await cli.run(['--help']);
    expect(top.stdout).toMatch(/\n {2}pools\|pool\b/);
  });
});
