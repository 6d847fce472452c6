import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityId, decodeJoinToken, generateEd25519, scriptSha256, signCapability, signRevocation, signRootsUpdate, signScript } from '@gpufleet/protocol';
import { resolveServerConfig } from '../config/server-config.js';
import { startServer } from '../server.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';
import { SERVER_KEY_FILE } from './server-identity.js';

/** The trust services as server.ts wires them: real server, real agent session over WebSocket. */

let t: TestServer;
const root = generateEd25519();
const root2 = generateEd25519();

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

describe('trust wiring', () => {
  it('serves the control plane identity, kept in a 0600 file without a master key', async () => {
    const res = await t.api('GET', '/api/v1/server-identity');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ did: t.server.context.trust.identity.did, keyStorage: 'file' });
    expect(existsSync(join(t.dataDir, SERVER_KEY_FILE))).toBe(true);
  });

  it('puts the roots in join tokens and sends trust frames to sessions, on connect and on every change', async () => {
    expect((await t.api('POST', '/api/v1/roots/init', { did: root.did })).status).toBe(201);
    const created = await t.api('POST', '/api/v1/join-tokens', {});
    expect(decodeJoinToken(created.body.token).roots).toEqual([root.did]);

    const key = await enrollTestNode(t, 'trust-node');
    const agent = await ProtocolClient.connect(t.url);
    try {
      expect((await agent.hello(key)).t).toBe('welcome');
      expect((await agent.next((f) => f.t === 'trust')).body).toEqual({ roots: [], revocations: [] });

      const update = signRootsUpdate({ v: 1, version: 2, roots: [root.did, root2.did], iss: root.did, at: Date.now() }, root.privateKeyPem);
      expect((await t.api('POST', '/api/v1/roots/update', { update })).status).toBe(201);
      expect((await agent.next((f) => f.t === 'trust')).body).toEqual({ roots: [update], revocations: [] });
      expect(decodeJoinToken((await t.api('POST', '/api/v1/join-tokens', {})).body.token).roots).toEqual([root.did, root2.did]);

      const cap = signCapability(
        {
          v: 1,
          iss: root.did,
          aud: t.server.context.trust.identity.did,
          can: ['container/restart'],
          on: 'pool=inference',
          nbf: Date.now() - 1000,
          exp: Date.now() + 3_600_000,
          nonce: 'wiring-nonce-1',
          prf: [],
        },
        root.privateKeyPem,
      );
      expect((await t.api('POST', '/api/v1/capabilities', { capability: cap })).status).toBe(201);
      expect(await t.server.context.trust.capabilityFor('container/restart', { pool: 'inference' })).toEqual(cap);
      const revocation = signRevocation(
        { v: 1, target: { capability: capabilityId(cap) }, iss: root2.did, at: Date.now(), reason: 'wiring' },
        root2.privateKeyPem,
      );
      expect((await t.api('POST', '/api/v1/revocations', { revocation })).status).toBe(201);
      expect((await agent.next((f) => f.t === 'trust')).body).toEqual({ roots: [update], revocations: [revocation] });
    } finally {
      agent.close();
    }
  });

  it('stores signed scripts for the runs service and keeps the audit chain intact', async () => {
    const content = '#!/bin/sh\necho wired\n';
    const signature = signScript('wired', 1, scriptSha256(content), root.privateKeyPem);
    expect((await t.api('POST', '/api/v1/scripts', { name: 'wired', content, signature })).status).toBe(201);
    expect(await t.server.context.scripts.lookup('wired', 1)).toEqual({ content, signature });
    // The app's audit hook writes after replying: give it a moment before walking the chain.
    await new Promise((r) => setTimeout(r, 100));
    const verify = await t.api('GET', '/api/v1/audit/verify');
    expect(verify.body).toMatchObject({ ok: true, legacy: 0 });
    expect(verify.body.checked).toBeGreaterThanOrEqual(8);
  });
});

describe('master key', () => {
  it('seals the control plane key in the store; a wrong master key stops start-up with a clear error', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'trust-wiring-'));
    const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir, logLevel: 'silent' } });
    try {
      const first = await startServer(config, { logger: false, masterKey: 'the fleet master key, long enough' });
      const did = first.context.trust.identity.did;
      expect(first.context.trust.identity.storage).toBe('sealed');
      await first.stop();
      expect(existsSync(join(dataDir, SERVER_KEY_FILE))).toBe(false);
      await expect(startServer(config, { logger: false, masterKey: 'some other master key entirely' })).rejects.toThrow(
        /GPUFLEET_MASTER_KEY is not the master key it was sealed with/,
      );
      const again = await startServer(config, { logger: false, masterKey: 'the fleet master key, long enough' });
      expect(again.context.trust.identity.did).toBe(did);
      await again.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
