import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t?.close());

describe('allocation routes refuse garbage', () => {
  it('bad filters are 400 naming the field; unknown jobs and nodes are 404', async () => {
    const bad: Array<[string, RegExp]> = [
      ['?selector=gpu.model%20in%20(', /selector/],
      ['?status=exploded', /status must be one of pending/],
      ['?active=maybe', /active is true or false/],
      ['?limit=0', /limit/],
      ['?limit=ten', /limit must be a whole number/],
      ['?job=Not_A_Job', /job name/],
      ['?node=', /node/],
      [`?selector=${'a'.repeat(4097)}`, /selector/],
      ['?unknown=1', /unknown|unrecognized/i],
    ];
    for (const [query, message] of bad) {
      const r = await t.api('GET', `/api/v1/allocations${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.error.message, query).toMatch(message);
    }
    const noJob = await t.api('GET', '/api/v1/allocations?job=nosuchjob');
    expect(noJob.status).toBe(404);
    expect(noJob.body.error.message).toMatch(/no job 'nosuchjob'/);
    expect((await t.api('GET', '/api/v1/allocations?node=no-such-host')).status).toBe(404);
    expect((await t.api('GET', '/api/v1/allocations')).body).toEqual({ items: [] });
  });

  it('bad ids are 400; unknown ones are 404, before any stream opens', async () => {
    for (const id of ['short', 'has%20space', 'x'.repeat(65), 'semi%3Bcolon']) {
      expect((await t.api('GET', `/api/v1/allocations/${id}`)).status, id).toBe(400);
      expect((await t.api('GET', `/api/v1/allocations/${id}/logs`)).status, id).toBe(400);
    }
    expect((await t.api('GET', '/api/v1/allocations/UnknownAlloc01')).status).toBe(404);
    expect((await t.api('GET', '/api/v1/allocations/UnknownAlloc01/logs')).status).toBe(404);
    expect((await t.api('GET', '/api/v1/allocations/UnknownAlloc01/logs/stream')).status).toBe(404);
    for (const q of ['?after=-1', '?after=x', '?limit=0', '?limit=10001', '?offset=3']) {
      expect((await t.api('GET', `/api/v1/allocations/UnknownAlloc01/logs${q}`)).status, q).toBe(400);
    }
    expect((await t.api('GET', '/api/v1/allocations/UnknownAlloc01/logs/stream?after=x')).status).toBe(400);
    expect((await t.api('GET', '/api/v1/jobs/nosuchjob/allocations/web-0')).status).toBe(404);
    expect((await t.api('GET', '/api/v1/jobs/nosuchjob/allocations/we%20b')).status).toBe(400);
    expect((await t.api('GET', '/api/v1/jobs/NoSuch/allocations/web-0')).status).toBe(400);
    // The token goes in a header, except on SSE streams.
    expect((await t.api('GET', `/api/v1/allocations/UnknownAlloc01?access_token=${t.adminToken}`, undefined, null)).status).toBe(401);
    expect((await t.api('GET', `/api/v1/allocations/UnknownAlloc01/logs/stream?access_token=${t.adminToken}`, undefined, null)).status).toBe(404);
    expect((await t.api('GET', '/api/v1/allocations', undefined, null)).status).toBe(401);
  });
});
