import { generateEd25519 } from '@gpufleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bareNode } from '../store/__tests__/store-fixtures.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';

/**
 * POST /api/v1/ssh-hosts/{node}/promote on a real server: garbage bodies refused naming the
 * field (and no token minted), roles (admin only), unknown nodes, an agent node refused, all
 * audited. The real promote over a real sshd is test/e2e/job-center/promote.test.ts.
 */
let t: TestServer;
let operator: string;
let agentNode: string;

beforeAll(async () => {
  t = await startTestServer();
  operator = (await t.api('POST', '/api/v1/api-tokens', { name: 'o', role: 'operator' })).body.token;
  agentNode = generateEd25519().did;
  await t.server.context.registry.add({ ...bareNode(agentNode), hostname: 'agent-host' });
});
afterAll(() => t?.close());

describe('promote route', () => {
  it.each([
    [{ installCommand: '' }, 'installCommand'],
    [{ installCommand: 7 }, 'installCommand'],
    [{ timeout: 'soon' }, 'timeout'],
    [{ timeout: '5 m' }, 'timeout'],
    [{ reason: 'x'.repeat(501) }, 'reason'],
    [{ force: true }, 'force'],
    [[], 'expected object'],
    ['not json', 'body'],
  ])('refuses a garbage body naming the field (%#), minting no token', async (bad, field) => {
    const res = await t.api('POST', '/api/v1/ssh-hosts/agent-host/promote', bad);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain(field);
    expect((await t.api('GET', '/api/v1/join-tokens')).body.items).toEqual([]);
  });

  it('a timeout out of range is refused naming it', async () => {
    const res = await t.api('POST', '/api/v1/ssh-hosts/agent-host/promote', { timeout: '2h' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/timeout '2h' must be from 10s to 1h/);
  });

  it('is for admins only', async () => {
    expect((await t.api('POST', '/api/v1/ssh-hosts/agent-host/promote', {}, operator)).status).toBe(403);
    expect((await t.api('POST', '/api/v1/ssh-hosts/agent-host/promote', {}, null)).status).toBe(401);
  });

  it('an unknown node is not found; an agent node has nothing to promote; both audited', async () => {
    expect((await t.api('POST', '/api/v1/ssh-hosts/nobody/promote', {})).status).toBe(404);
    const agent = await t.api('POST', '/api/v1/ssh-hosts/agent-host/promote', { reason: 'try' });
    expect(agent.status).toBe(412);
    expect(agent.body.error.message).toMatch(/agent-host is already an agent host/);
    const audit = (await t.api('GET', '/api/v1/audit?action=ssh-hosts.promote')).body.items;
    expect(audit.map((a: { target: string; result: string }) => [a.target, a.result])).toEqual(
      expect.arrayContaining([
        ['nobody', 'error'],
        ['agent-host', 'error'],
      ]),
    );
  });
});
