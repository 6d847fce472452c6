import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeJoinToken, encodeJoinToken } from '@gpufleet/protocol';
import { CA_FILE, NODE_CONFIG_FILE, certificateFingerprint } from '@gpufleet/agent';
import { startTestServer, type TestServer } from '../../packages/server/src/testing/test-server.js';
import { ensureServerTls } from '../../packages/server/src/tls/index.js';
import { Cleanups } from './support/cleanups.js';
import { E2eHost } from './support/e2e-host.js';
import { freePort } from './support/free-port.js';
import { apiClient, type ApiCall } from './support/http-json.js';
import { sleep, waitFor } from './support/wait-for.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/**
 * A server listening beyond loopback (0.0.0.0), so it makes its own CA. Port 0 cannot be put in
 * the public URL before listening, so a free port is picked first and used for both.
 */
async function tlsServer(): Promise<{ t: TestServer; api: ApiCall; port: number }> {
  const port = await freePort('0.0.0.0');
  const t = await startTestServer({
    listen: `0.0.0.0:${port}`,
    publicUrl: `https://127.0.0.1:${port}`,
    heartbeatInterval: '200ms',
    offlineAfter: 3,
    metricsInterval: '500ms',
  });
  cleanups.add('tls server', () => t.close());
  // The API is reached over https trusting only the server's own CA: proves the certificate covers 127.0.0.1.
  return { t, api: apiClient(t.url, t.adminToken, t.server.context.caPem ?? undefined), port };
}

describe('e2e: enrollment over TLS with the CA pinned by the join token', () => {
  it('joins and connects over wss with the pinned CA; a token with an altered fingerprint is refused and enrolls nothing', async () => {
    const { t, api, port } = await tlsServer();
    expect(t.url).toBe(`https://127.0.0.1:${port}`);
    const fingerprint = t.server.caFingerprint;
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
    // The fingerprint is the SHA-256 of the CA kept in the data dir (what /v1/ca.pem hands out).
    expect(certificateFingerprint(readFileSync(join(t.dataDir, 'tls', 'ca.pem'), 'utf8'))).toBe(fingerprint);

    const created = await api('POST', '/api/v1/join-tokens', { description: 'tls e2e', reusable: true });
    expect(created.status, created.text).toBe(201);
    const token: string = created.body.token;
    const payload = decodeJoinToken(token);
    expect(payload.url).toBe(t.url);
    expect(payload.caFingerprint).toBe(fingerprint);

    // A token whose fingerprint was altered: the agent refuses the server's CA before sending anything.
    const altered = fingerprint!.slice(0, -1) + (fingerprint!.endsWith('0') ? '1' : '0');
    const tampered = new E2eHost({ token: encodeJoinToken({ ...payload, caFingerprint: altered }), hostname: 'e2e-tls-tampered' });
    cleanups.add('tampered host', () => tampered.dispose());
    await expect(tampered.join()).rejects.toThrow(/the server's CA does not match the fingerprint in the join token/);
    // Nor may a token simply drop the fingerprint for an https server.
    await expect(tampered.join(encodeJoinToken({ ...payload, caFingerprint: null }))).rejects.toThrow(/no CA fingerprint/);
    expect(existsSync(join(tampered.dataDir, NODE_CONFIG_FILE))).toBe(false);
    expect(t.server.context.registry.size).toBe(0);
    const tokens = await api('GET', '/api/v1/join-tokens');
    expect(tokens.body.items.find((i: { id: string }) => i.id === payload.tokenId)?.uses).toBe(0);

    // The genuine token: joins, keeps exactly the pinned CA, and the agent goes live over wss.
    const host = new E2eHost({ token, hostname: 'e2e-tls-01', model: 'MI300X' });
    cleanups.add('host', () => host.dispose());
    expect((await host.join()).status).toBe('READY');
    expect(certificateFingerprint(readFileSync(join(host.dataDir, CA_FILE), 'utf8'))).toBe(fingerprint);
    const agent = await host.start();
    await waitFor('agent live over wss', () => agent.linkState === 'live');
    await waitFor('node READY', async () => (await api('GET', `/api/v1/nodes/e2e-tls-01`)).body?.status === 'READY');
    await waitFor('metrics over wss', () => t.server.context.metrics.latest(host.nodeId) !== null);
    await waitFor('outbox acknowledged over wss', () => host.settled);
    expect(t.server.context.registry.size).toBe(1);

    // The pin is the only trust: with another CA in its data dir the agent never completes a session.
    await host.stop();
    const otherDir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-other-ca-'));
    cleanups.add('other ca dir', () => rmSync(otherDir, { recursive: true, force: true }));
    const other = await ensureServerTls({ dataDir: otherDir, hostnames: [], ips: [] });
    expect(other.caFingerprint).not.toBe(fingerprint);
    writeFileSync(join(host.dataDir, CA_FILE), other.caPem);
    const hellosBefore = t.server.context.stats.framesByType.get('hello') ?? 0;
    const impostor = await host.start();
    await waitFor('at least two refused TLS dials', () => (impostor.linkStats?.dials ?? 0) >= 2, { timeoutMs: 5000 });
    await sleep(300);
    expect(impostor.linkState).not.toBe('live');
    expect(impostor.linkStats?.welcomes).toBe(0);
    expect(t.server.context.stats.framesByType.get('hello') ?? 0).toBe(hellosBefore);
  });
});
