import { enrollmentMessage, generateEd25519, signEd25519 } from '@gpufleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promoteTokenDescription } from '../ssh-hosts/promote-token.js';
import { testGpu, testHostFacts } from '../testing/fake-host.js';
import { tokenParts } from '../testing/protocol-client.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { bareNode } from '../store/__tests__/store-fixtures.js';

/**
 * A node managed over SSH has a key the server made; its promote hands the key to the host, which
 * joins with it. Enrollment lets that key in only with the promote's own single-use token for
 * that very node: a normal token (even a reusable admin one) is refused, and so is a promote
 * token minted for another node.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

async function sshNode(hostname: string) {
  const key = generateEd25519();
  await t.server.context.registry.add({ ...bareNode(key.did), hostname, mode: 'ssh', joinTokenId: null, userLabels: { rack: 'a' } });
  return key;
}

async function mint(description: string, reusable = false): Promise<[string, string]> {
  const { token } = await t.server.context.joinTokens.create({ description, reusable }, 'test');
  return tokenParts(token);
}

function enroll([tokenId, secret]: [string, string], key: { did: string; privateKeyPem: string }, hostname = 'vm') {
  return t.api(
    'POST',
    '/api/v1/enroll',
    {
      tokenId,
      secret,
      nodeId: key.did,
      signature: signEd25519(key.privateKeyPem, enrollmentMessage(tokenId, key.did)),
      host: testHostFacts(hostname),
      gpus: [testGpu(0)],
    },
    null,
  );
}

describe('enrollment of a node managed over SSH', () => {
  it('refuses a normal token, a reusable one and a promote token of another node; nothing changes', async () => {
    const key = await sshNode('ssh-a');
    const normal = await enroll(await mint('lab hosts'), key);
    expect(normal.status).toBe(403);
    expect(normal.body.error.message).toMatch(/ssh-a is managed over SSH: its key joins only with the token of its promote \(gpufleet nodes promote ssh-a\)/);
    const reusable = await enroll(await mint(promoteTokenDescription(key.did, 'ssh-a'), true), key);
    expect(reusable.status).toBe(403);
    const other = await sshNode('ssh-b');
    const foreign = await enroll(await mint(promoteTokenDescription(other.did, 'ssh-b')), key);
    expect(foreign.status).toBe(403);
    const node = t.server.context.registry.get(key.did)!;
    expect(node).toMatchObject({ mode: 'ssh', hostname: 'ssh-a' });
    // A refused token is not used up.
    expect((await t.server.context.joinTokens.list()).every((tk) => tk.uses === 0)).toBe(true);
  });

  it('accepts its own promote token once, keeps the node and its name, and uses the token up', async () => {
    const key = await sshNode('ssh-c');
    const token = await mint(promoteTokenDescription(key.did, 'ssh-c'));
    const ok = await enroll(token, key, 'os-hostname-of-ssh-c');
    expect(ok.status).toBe(201);
    expect(ok.body.nodeId).toBe(key.did);
    const node = t.server.context.registry.get(key.did)!;
    // Still an SSH node until the promote sees the session; the name the operator gave stays.
    expect(node).toMatchObject({ mode: 'ssh', hostname: 'ssh-c', userLabels: { rack: 'a' } });
    const again = await enroll(token, key);
    expect(again.status).toBe(403);
    expect(again.body.error.message).toMatch(/single-use and has already been used/);
  });

  it('an agent node re-joining with a normal token still works', async () => {
    const key = generateEd25519();
    const first = await enroll(await mint('lab'), key, 'agent-host');
    expect(first.status).toBe(201);
    const again = await enroll(await mint('lab again'), key, 'agent-host');
    expect(again.status).toBe(201);
    expect(again.body.nodeId).toBe(key.did);
  });
});
