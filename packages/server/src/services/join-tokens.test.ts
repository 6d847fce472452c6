import { decodeJoinToken } from '@gpufleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

describe('join tokens made in process (demo, simulator, local CLI)', () => {
  it('are checked like REST requests: a label value a host would refuse mints no token', async () => {
    await expect(t.server.createJoinToken({ labels: { scenario: '<inline>' } })).rejects.toThrow(/join token request: labels/);
    await expect(t.server.createJoinToken({ expiresIn: 'soon' } as never)).rejects.toThrow(/join token request: expiresIn/);
    await expect(t.server.createJoinToken({ colour: 'red' } as never)).rejects.toThrow(/join token request/);
    const listed = await t.api('GET', '/api/v1/join-tokens');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([]);
  });

  it('carry their labels inside the token string, where the host reads them', async () => {
    const { token } = await t.server.createJoinToken({ labels: { region: 'eu' }, reusable: true });
    expect(decodeJoinToken(token).labels).toEqual({ region: 'eu' });
  });
});
