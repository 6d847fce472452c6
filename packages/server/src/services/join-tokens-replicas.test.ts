import { decodeJoinToken } from '@gpufleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { JoinTokenService } from './join-tokens.js';

// The service on its own (no whole server): the replica list is its business alone.
let store: Store;
beforeAll(async () => {
  store = await openSqliteStore({ path: ':memory:' });
  await store.migrate();
});
afterAll(() => store.close());

function service(caFingerprint: string | null, serverUrl = 'http://127.0.0.1:7420'): JoinTokenService {
  return new JoinTokenService({ store, clock: { now: () => Date.UTC(2025, 0, 1) }, serverUrl: () => serverUrl, caFingerprint, roots: () => [] });
}

describe('join tokens for a control plane with several replicas', () => {
  it('name every replica when asked, the first as the token URL', async () => {
    const serverUrls = ['https://b.example:7421', 'https://a.example:7420'];
    const payload = decodeJoinToken((await service('c'.repeat(64), 'https://a.example:7420').create({ serverUrls }, 'admin')).token);
    expect(payload.url).toBe('https://b.example:7421');
    expect(payload.urls).toEqual(serverUrls);
  });

  it("carry only the server's own URL when no list is given, as before", async () => {
    const payload = decodeJoinToken((await service(null).create({}, 'admin')).token);
    expect(payload.url).toBe('http://127.0.0.1:7420');
    expect(payload.urls).toBeUndefined();
  });

  it.each([
    ['an ftp URL', null, ['ftp://127.0.0.1:7420'], /serverUrls: server URL #1: 'ftp:\/\/127.0.0.1:7420' is not an http or https URL/],
    ['an empty list', null, [], /serverUrls: Too small/],
    ['the same URL twice', null, ['http://127.0.0.1:1', 'http://127.0.0.1:1/'], /#2 .* listed twice/],
    ['https without a CA to pin', null, ['https://fleet.example:7420'], /'https:\/\/fleet.example:7420' is not http, but this server has no CA/],
    ['plain http beside a pinned CA', 'c'.repeat(64), ['https://a:1', 'http://b:2'], /'http:\/\/b:2' is not https, but this server pins a CA/],
  ])('refuse %s before storing anything', async (_name, ca, serverUrls, message) => {
    const before = (await store.listJoinTokens()).length;
    await expect(service(ca).create({ serverUrls }, 'admin')).rejects.toThrow(message);
    expect(await store.listJoinTokens()).toHaveLength(before);
  });
});
