import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { testGpu } from '../testing/fake-host.js';
import { enrollTestNode } from '../testing/protocol-client.js';
import { GPU_LIST_UNPAGED_MAX } from './fleet-routes.js';

/**
 * GET /api/v1/gpus past GPU_LIST_UNPAGED_MAX: without `limit` it is refused with what to do,
 * pages still come back. 160 nodes with 64 GPUs each (the protocol's most) make 10,240 GPUs.
 */

const NODES = 160;
const GPUS = 64;
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  for (let n = 0; n < NODES; n++) {
    const gpus = Array.from({ length: GPUS }, (_, i) => ({
      ...testGpu(i),
      uuid: `GPU-${String(n).padStart(8, '0')}-0000-0000-0000-${String(i).padStart(12, '0')}`,
    }));
    await enrollTestNode(t, `big-${String(n).padStart(3, '0')}`, {}, gpus);
  }
}, 120_000);
afterAll(() => t.close());

describe('GET /api/v1/gpus on a fleet past the unpaged limit', () => {
  it('refuses the whole list in one response, saying how many and what to ask for', async () => {
    expect(NODES * GPUS).toBeGreaterThan(GPU_LIST_UNPAGED_MAX);
    const res = await t.api('GET', '/api/v1/gpus');
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.code).toBe('invalid_argument');
    expect(res.body.error.message).toMatch(/^10240 GPUs match, more than 10000 in one response: ask for pages with limit .* and offset/);
  });

  it('answers pages, and an offset leaving few enough without a limit', async () => {
    const first = await t.api('GET', '/api/v1/gpus?limit=10000');
    expect(first.status, first.text).toBe(200);
    expect(first.body.items).toHaveLength(10_000);
    expect(first.body.total).toBe(NODES * GPUS);
    const rest = await t.api('GET', '/api/v1/gpus?offset=10000');
    expect(rest.status, rest.text).toBe(200);
    expect(rest.body.items).toHaveLength(240);
    // Together they are every GPU once.
    const keys = new Set([...first.body.items, ...rest.body.items].map((r: { gpu: { uuid: string } }) => r.gpu.uuid));
    expect(keys.size).toBe(NODES * GPUS);
  });

  it('a selector that matches fewer still comes back whole without a limit', async () => {
    const res = await t.api('GET', `/api/v1/gpus?node=big-007`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.items).toHaveLength(GPUS);
  });
});
