import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';

/** `?access_token=` is for EventSource only: SSE routes take it, every other route refuses it. */

let t: TestServer;
let viewer: string;
beforeAll(async () => {
  t = await startTestServer();
  viewer = (await t.api('POST', '/api/v1/api-tokens', { name: 'v', role: 'viewer' })).body.token;
});
afterAll(() => t.close());

/** Status and content type of a GET, closing the connection once the headers are in (SSE never ends). */
function head(path: string): Promise<{ status: number; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request(t.url + path, (res) => {
      resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? '') });
      res.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

describe('?access_token=', () => {
  it('opens the SSE streams', async () => {
    expect(await head(`/api/v1/stream?access_token=${viewer}`)).toEqual({ status: 200, type: 'text/event-stream' });
    expect((await head('/api/v1/stream?access_token=gft_nope_nope')).status).toBe(401);
  });

  it('is refused with a 401 on every other route, even a valid admin token, and even next to a header', async () => {
    for (const path of [
      `/api/v1/nodes?access_token=${t.adminToken}`,
      `/api/v1/audit/verify?access_token=${t.adminToken}`,
      `/api/v1/whoami?access_token=${viewer}`,
    ]) {
      const r = await t.api('GET', path, undefined, null);
      expect(r.status).toBe(401);
      expect(r.body.error).toEqual({
        code: 'unauthenticated',
        message: expect.stringMatching(/access_token= is accepted on SSE streams only.*Authorization: Bearer/),
      });
    }
    const both = await t.api('GET', `/api/v1/nodes?access_token=${t.adminToken}`);
    expect(both.status).toBe(401);
    const post = await t.api('POST', `/api/v1/api-tokens?access_token=${t.adminToken}`, { name: 'x', role: 'viewer' }, null);
    expect(post.status).toBe(401);
  });

  it('is refused on public routes too, and an empty or repeated one counts as given', async () => {
    expect((await t.api('GET', '/healthz?access_token=x', undefined, null)).status).toBe(401);
    expect((await t.api('GET', '/api/v1/nodes?access_token=', undefined, null)).status).toBe(401);
    expect((await t.api('GET', '/api/v1/nodes?access_token=a&access_token=b')).status).toBe(401);
    // Without it the same calls work.
    expect((await t.api('GET', '/healthz', undefined, null)).status).toBe(200);
    expect((await t.api('GET', '/api/v1/nodes')).status).toBe(200);
  });
});
