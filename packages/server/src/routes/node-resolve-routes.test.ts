import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode } from '../testing/protocol-client.js';

/**
 * /api/v1/nodes/:ref resolves nodes by id always, and by hostname only when one node has it.
 * Enrollment may refuse or rename a clashing hostname, but old data and inventory updates can
 * still make two nodes share one, so the test renames a node in the registry directly.
 */

let t: TestServer;
let first: string;
let second: string;

beforeAll(async () => {
  t = await startTestServer();
  first = (await enrollTestNode(t, 'twin')).did;
  second = (await enrollTestNode(t, 'twin-later')).did;
  await enrollTestNode(t, 'solo');
  await t.server.context.registry.update(second, { hostname: 'twin' }, 'inventory');
});
afterAll(() => t.close());

const node = (ref: string) => t.api('GET', `/api/v1/nodes/${encodeURIComponent(ref)}`);

describe('resolving /api/v1/nodes/:ref', () => {
  it('answers a shared hostname with 409 and the candidates, naming their ids', async () => {
    const res = await node('twin');
    expect(res.status, res.text).toBe(409);
    expect(res.body.error.code).toBe('conflict');
    expect(res.body.error.message).toMatch(/hostname 'twin' is shared by 2 nodes; name the node by its id/);
    expect(res.body.error.message).toContain(first);
    const candidates = res.body.error.details.candidates as { id: string; hostname: string; status: string }[];
    expect(candidates.map((c) => c.id).sort()).toEqual([first, second].sort());
    expect(candidates.map((c) => c.hostname)).toEqual(['twin', 'twin']);
    expect(candidates.every((c) => typeof c.status === 'string' && c.status.length > 0)).toBe(true);
  });

  it('refuses an action by a shared hostname and acts on the id given', async () => {
    expect((await t.api('POST', '/api/v1/nodes/twin/cordon', { reason: 'x' })).status).toBe(409);
    const res = await t.api('POST', `/api/v1/nodes/${encodeURIComponent(second)}/cordon`, { reason: 'only this one' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.id).toBe(second);
    expect((await node(first)).body.statusChange).toBeNull();
    expect((await node(second)).body.statusChange.reason).toBe('only this one');
  });

  it('always resolves an id, with or without URL encoding, and a unique hostname', async () => {
    for (const id of [first, second]) {
      const res = await node(id);
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ id, hostname: 'twin' });
    }
    expect((await t.api('GET', `/api/v1/nodes/${first}`)).body.id).toBe(first);
    expect((await node('solo')).body.hostname).toBe('solo');
  });

  it('takes a hostname to the live node once the other holder is removed', async () => {
    expect((await t.api('DELETE', `/api/v1/nodes/${encodeURIComponent(first)}`)).status).toBe(204);
    const res = await node('twin');
    expect(res.status, res.text).toBe(200);
    expect(res.body.id).toBe(second);
    // The removed node is still there by its id.
    expect((await node(first)).body.status).toBe('DECOMMISSIONED');
  });

  it('refuses garbage with a 4xx that says what to give', async () => {
    const missing = await node('no-such-host');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/no node 'no-such-host' \(give an id, an id prefix or a hostname\)/);
    expect((await node('x'.repeat(201))).status).toBeGreaterThanOrEqual(400);
    expect((await node('did:key:zNOPE')).status).toBe(404);
  });
});
