import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, gpuSampleOf, NodeSparklines, SPARKLINE_MAX_IDS, type GpuSample, type MetricsBody } from '@gpufleet/protocol';
import { ManualClock, startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode } from '../testing/protocol-client.js';

/**
 * GET /api/v1/nodes?sort= and GET /api/v1/sparklines on a real server (HTTP, auth,
 * validation, SQLite). Nodes enroll for real; their samples go straight into the server's
 * metric store with timestamps the test picks, so every bucket's expected value is known.
 */

const BUCKET = 30_000; // 15 min / 30 points
const END = 1_800_000_000_000 - (1_800_000_000_000 % BUCKET) + 20 * BUCKET; // a bucket edge
const NOW = END - 1; // the last millisecond of the newest bucket
const START = END - 30 * BUCKET;
const GAP_BUCKET = 10;

let t: TestServer;
let viewer: string;
const clock = new ManualClock(NOW);
const ids = new Map<string, string>();

function sample(ts: number, gpus: Array<{ util: number | null; temp: number | null; power?: number | null }>): MetricsBody {
  const g: GpuSample[] = gpus.map((v, i) => ({
    ...gpuSampleOf(emptyGpuSnapshot('nvidia', i)),
    uuid: `GPU-00000000-0000-0000-0000-00000000000${i}`,
    utilizationPct: v.util,
    temperatureC: v.temp,
    powerDrawW: v.power ?? null,
  }));
  return { ts, host: { cpuPct: 1, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] }, gpus: g };
}

beforeAll(async () => {
  t = await startTestServer({}, { clock });
  viewer = (await t.api('POST', '/api/v1/api-tokens', { name: 'v', role: 'viewer' })).body.token;
  // Hostnames in an order unlike every reading order below.
  for (const h of ['warm', 'hot', 'idle', 'cold', 'silent', 'busy']) ids.set(h, (await enrollTestNode(t, h)).did);
  const metrics = t.server.context.metrics;
  const registry = t.server.context.registry;

  // 'busy': 3 samples per bucket over the whole window, one bucket left empty, and older
  // samples with extreme values that fall before the window and must not count.
  const busy = ids.get('busy')!;
  for (let k = -6; k < 0; k++)
    metrics.ingest(
      busy,
      sample(START + k * 10_000, [
        { util: 100, temp: 99 },
        { util: 100, temp: 99 },
      ]),
    );
  for (let k = 0; k < 90; k++) {
    const b = Math.floor(k / 3);
    if (b === GAP_BUCKET) continue;
    // util: GPU0 k, GPU1 k+10 (mean k+5), except every third sample where GPU1 has no reading.
    // temp: GPU1 is 70 on the bucket's first sample, 30 otherwise; GPU0 is 40+b.
    metrics.ingest(
      busy,
      sample(START + k * 10_000, [
        { util: k, temp: 40 + b },
        { util: k % 3 === 2 ? null : k + 10, temp: k % 3 === 0 ? 70 : 30 },
      ]),
    );
  }
  // Latest readings for sorting: [util, temp, power] per GPU.
  const latest: Record<string, Array<[number | null, number | null, number | null]>> = {
    hot: [
      [50, 88, 600],
      [70, 60, 500],
    ], // util 60, temp 88, power 1100
    warm: [
      [20, 65, 300],
      [20, 66, 300],
    ], // util 20, temp 66, power 600
    cold: [
      [95, 35, 100],
      [85, 30, 100],
    ], // util 90, temp 35, power 200
    idle: [
      [0, 45, 80],
      [0, 45, 80],
    ], // util 0, temp 45, power 160
    // silent: never sends metrics
  };
  for (const [h, gpus] of Object.entries(latest))
    metrics.ingest(
      ids.get(h)!,
      sample(
        NOW - 5000,
        gpus.map(([util, temp, power]) => ({ util, temp, power })),
      ),
    );
  for (const h of ids.keys()) if (h !== 'silent') registry.seen(ids.get(h)!);
});
afterAll(() => t.close());

function expectError(res: { status: number; body: any }, status: number, message: RegExp) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(status === 400 ? 'invalid_argument' : res.body.error.code);
  expect(res.body.error.message).toMatch(message);
}

const hostnames = async (query: string) =>
  ((await t.api('GET', `/api/v1/nodes${query}`, undefined, viewer)).body.items as { hostname: string }[]).map((n) => n.hostname);

describe('GET /api/v1/nodes?sort=', () => {
  it('sorts by readings with the node that never reported last, both ways', async () => {
    // busy's newest sample: util 89 (GPU1 had none), hottest 69 °C, no power reading.
    expect(await hostnames('?sort=-temp')).toEqual(['hot', 'busy', 'warm', 'idle', 'cold', 'silent']);
    expect(await hostnames('?sort=temp')).toEqual(['cold', 'idle', 'warm', 'busy', 'hot', 'silent']);
    expect(await hostnames('?sort=-util')).toEqual(['cold', 'busy', 'hot', 'warm', 'idle', 'silent']);
    expect(await hostnames('?sort=power')).toEqual(['idle', 'cold', 'warm', 'hot', 'busy', 'silent']);
    expect(await hostnames('?sort=-power')).toEqual(['hot', 'warm', 'cold', 'idle', 'busy', 'silent']);
    expect(await hostnames('?sort=hostname')).toEqual(['busy', 'cold', 'hot', 'idle', 'silent', 'warm']);
    expect(await hostnames('')).toEqual(await hostnames('?sort=hostname'));
  });

  it('pages through a sorted list without repeats or gaps', async () => {
    const whole = await hostnames('?sort=-util');
    const paged = [...(await hostnames('?sort=-util&limit=4&offset=0')), ...(await hostnames('?sort=-util&limit=4&offset=4'))];
    expect(paged).toEqual(whole);
  });

  it('refuses an unknown sort with the keys it takes', async () => {
    for (const bad of ['name', '-', '--temp', 'temp,-util', 'TEMP', '+temp']) {
      expectError(
        await t.api('GET', `/api/v1/nodes?sort=${encodeURIComponent(bad)}`, undefined, viewer),
        400,
        /sort must be one of hostname, status, gpus, util, temp, power, lastSeen/,
      );
    }
  });

  it('is in the OpenAPI document with its allowed values', async () => {
    const spec = (await t.api('GET', '/openapi.json', undefined, null)).body;
    const params = spec.paths['/api/v1/nodes'].get.parameters as { name: string; schema: { enum?: string[] } }[];
    expect(params.find((p) => p.name === 'sort')?.schema.enum).toEqual(expect.arrayContaining(['temp', '-temp', 'lastSeen', '-lastSeen']));
    expect(spec.paths['/api/v1/sparklines'].get).toBeDefined();
  });
});

describe('GET /api/v1/sparklines', () => {
  const spark = (query: string, token: string | null = viewer) => t.api('GET', `/api/v1/sparklines${query}`, undefined, token);

  it('averages mean utilization and hottest temperature into 30 buckets of the last 15 minutes', async () => {
    const busy = ids.get('busy')!;
    const res = await spark(`?ids=${busy}`);
    expect(res.status, res.text).toBe(200);
    expect(() => NodeSparklines.parse(res.body)).not.toThrow();
    expect(res.body).toMatchObject({ start: START, bucketMs: BUCKET, points: 30, missing: [] });
    const { util, temp } = res.body.items[0];
    expect(util).toHaveLength(30);
    expect(temp).toHaveLength(30);
    for (let b = 0; b < 30; b++) {
      if (b === GAP_BUCKET) {
        expect(util[b], `bucket ${b}`).toBeNull();
        expect(temp[b], `bucket ${b}`).toBeNull();
        continue;
      }
      // Samples 3b (mean 3b+5), 3b+1 (mean 3b+6), 3b+2 (GPU0 only: 3b+2).
      expect(util[b], `util bucket ${b}`).toBeCloseTo((3 * b + 5 + 3 * b + 6 + 3 * b + 2) / 3, 1);
      // Hottest: 70 on the first sample, 40+b on the other two.
      expect(temp[b], `temp bucket ${b}`).toBeCloseTo((Math.max(70, 40 + b) + 2 * (40 + b)) / 3, 1);
    }
    // The 99 °C samples before the window did not leak into the first bucket.
    expect(temp[0]).toBeCloseTo(50, 1);
  });

  it('takes bare ids, repeats and fewer points; unknown ids come back as missing', async () => {
    const busy = ids.get('busy')!;
    const unknown = 'did:key:z6MkfakefakefakefakefakefakefakefakefakefakefakeF';
    const res = await spark(`?ids=${busy.slice('did:key:'.length)},${busy},${ids.get('silent')},${unknown}&points=10&since=15m`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.points).toBe(10);
    expect(res.body.bucketMs).toBe(90_000);
    expect(res.body.items.map((i: { id: string }) => i.id)).toEqual([busy, ids.get('silent')]);
    expect(res.body.missing).toEqual([unknown]);
    expect(res.body.items[0].util).toHaveLength(10);
    // A node that never reported has a line of gaps, not zeros.
    expect(res.body.items[1].util).toEqual(Array(10).fill(null));
    const newest = res.body.items[0].temp.at(-1);
    expect(typeof newest).toBe('number');
  });

  it('answers 200 ids in one URL over real HTTP', async () => {
    const many = [...ids.values()];
    // Base58 has no 0: digits become letters.
    const fake = (i: number) =>
      `did:key:z6Mk${String(i)
        .replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!)
        .padStart(44, 'x')}`;
    for (let i = many.length; i < SPARKLINE_MAX_IDS; i++) many.push(fake(i));
    const res = await spark(`?ids=${many.join(',')}`);
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    expect(res.body.items).toHaveLength(ids.size);
    expect(res.body.missing).toHaveLength(SPARKLINE_MAX_IDS - ids.size);
  });

  it('refuses garbage with a message naming the problem', async () => {
    const busy = ids.get('busy')!;
    const tooMany = Array.from(
      { length: SPARKLINE_MAX_IDS + 1 },
      (_, i) =>
        `z6Mk${String(i)
          .replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!)
          .padStart(44, 'y')}`,
    ).join(',');
    const cases: Array<[string, RegExp]> = [
      ['', /ids/],
      ['?ids=', /ids must list at least one node id/],
      ['?ids=,,,', /ids must list at least one node id/],
      ['?ids=nope', /'nope' is not a node id/],
      [`?ids=${busy},did:key:abc`, /'did:key:abc' is not a node id/],
      [`?ids=${encodeURIComponent('z6Mk<script>xxxxxxxxxx')}`, /is not a node id/],
      [`?ids=${tooMany}`, /ids lists 201 nodes; at most 200/],
      [`?ids=${busy}&since=yesterday`, /since 'yesterday' is not a duration/],
      [`?ids=${busy}&since=2h`, /since '2h' must be from 1m to 60m/],
      [`?ids=${busy}&since=10s`, /since '10s' must be from 1m/],
      [`?ids=${busy}&points=1`, /points must be at least 2/],
      [`?ids=${busy}&points=61`, /points must be at most 60/],
      [`?ids=${busy}&points=2.5`, /points must be a whole number/],
      [`?ids=${busy}&points=many`, /points/],
      [`?ids=${busy}&colour=red`, /colour|unrecognized/i],
    ];
    for (const [query, message] of cases) expectError(await spark(query), 400, message);
    expect((await spark(`?ids=${busy}`, null)).status).toBe(401);
  });
});
