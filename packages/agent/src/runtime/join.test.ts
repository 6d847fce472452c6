import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnrollRequest, FleetError, encodeJoinToken, enrollmentMessage, verifyEd25519 } from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { makeSelfSignedCert } from '../testing/self-signed.js';
import { StubBackend } from '../testing/stub-backend.js';
import { FileStateStore } from './file-state.js';
import { loadIdentity } from './identity.js';
import { certificateFingerprint, joinFleet } from './join.js';

let dir: string;
const servers: { stop(): Promise<void> }[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-join-'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function plane(options: ConstructorParameters<typeof FakeControlPlane>[0]): Promise<FakeControlPlane> {
  const cp = new FakeControlPlane(options);
  await cp.start();
  servers.push(cp);
  return cp;
}

function token(url: string, caFingerprint: string | null = null, tokenId = 'tok1', secret = 's3cret'): string {
  return encodeJoinToken({ url, caFingerprint, roots: ['did:key:z6MkRoot'], tokenId, secret });
}

async function joinError(p: Promise<unknown>): Promise<FleetError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError);
    return err as FleetError;
  }
  throw new Error('expected the join to fail');
}

describe('joinFleet over http (loopback)', () => {
  it('sends a valid enroll request signed by the new node key and saves the node config', async () => {
    const cp = await plane({ tokens: { tok1: { secret: 's3cret' } }, heartbeatMs: 4000 });
    const backend = new StubBackend(3, 'gpu-box-1');
    const data = join(dir, 'data');
    const result = await joinFleet({ token: token(cp.url), dataDir: data, backend, agentVersion: '9.9.9' });

    expect(cp.enrollRequests).toHaveLength(1);
    const req = EnrollRequest.parse(cp.enrollRequests[0]);
    const key = loadIdentity(data)!;
    expect(req.nodeId).toBe(key.did);
    expect(req.tokenId).toBe('tok1');
    expect(req.secret).toBe('s3cret');
    expect(verifyEd25519(key.did, enrollmentMessage('tok1', key.did), req.signature)).toBe(true);
    expect(req.host.hostname).toBe('gpu-box-1');
    expect(req.host.agentVersion).toBe('9.9.9');
    expect(req.gpus.map((g) => g.uuid)).toEqual(backend.gpuList.map((g) => g.uuid));
    // GpuInfo only: no live readings in the inventory.
    expect(req.gpus[0]).not.toHaveProperty('temperatureC');

    expect(result).toMatchObject({ nodeId: key.did, status: 'READY', heartbeatMs: 4000, keyCreated: true });
    const config = new FileStateStore(data).loadConfig();
    expect(config).toEqual({ nodeId: key.did, serverUrl: cp.url, caPem: null, roots: ['did:key:z6MkRoot'], heartbeatMs: 4000, labels: {} });
  });

  it('keeps the key when join runs again', async () => {
    const cp = await plane({ tokens: { tok1: { secret: 's3cret' } } });
    const data = join(dir, 'data');
    const a = await joinFleet({ token: token(cp.url), dataDir: data, backend: new StubBackend(), agentVersion: '1' });
    const b = await joinFleet({ token: token(cp.url), dataDir: data, backend: new StubBackend(), agentVersion: '1' });
    expect(b.nodeId).toBe(a.nodeId);
    expect(b.keyCreated).toBe(false);
  });

  it("shows the server's 4xx message verbatim", async () => {
    const cp = await plane({ tokens: { tok1: { secret: 's3cret', refuse: { status: 410, code: 'failed_precondition', message: 'join token expired' } } } });
    const err = await joinError(joinFleet({ token: token(cp.url), dataDir: dir, backend: new StubBackend(), agentVersion: '1' }));
    expect(err.message).toBe('join token expired');
    expect(err.code).toBe('failed_precondition');
    expect(existsSync(join(dir, 'node.json'))).toBe(false);
  });

  it('says what a wrong secret gets from the server', async () => {
    const cp = await plane({ tokens: { tok1: { secret: 'right' } } });
    const err = await joinError(joinFleet({ token: token(cp.url, null, 'tok1', 'wrong'), dataDir: dir, backend: new StubBackend(), agentVersion: '1' }));
    expect(err.message).toBe('join token not recognized');
  });

  it('reports a non-JSON error page with its status', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>Bad Gateway</body></html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push({ stop: () => new Promise((r) => server.close(() => r())) });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const err = await joinError(joinFleet({ token: token(url), dataDir: dir, backend: new StubBackend(), agentVersion: '1' }));
    expect(err.message).toMatch(/HTTP 502.*Bad Gateway/);
  });

  it('says the connection was refused when nothing listens', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await joinError(joinFleet({ token: token(`http://127.0.0.1:${port}`), dataDir: dir, backend: new StubBackend(), agentVersion: '1' }));
    expect(err.message).toBe(`cannot reach the server at http://127.0.0.1:${port}: connection refused (is the server running and listening there?)`);
  });

  it('refuses a token without a CA fingerprint for a non-loopback server, before any traffic', async () => {
    const err = await joinError(joinFleet({ token: token('http://fleet.example.com:8080'), dataDir: dir, backend: new StubBackend(), agentVersion: '1' }));
    expect(err.message).toMatch(/only allowed for a plain-http loopback server/);
    expect(existsSync(join(dir, 'node.key'))).toBe(false);
  });

  it('refuses garbage tokens and bad labels with a clear message', async () => {
    await expect(joinFleet({ token: 'hello', dataDir: dir, backend: new StubBackend(), agentVersion: '1' })).rejects.toThrow(/not a gpufleet join token/);
    await expect(joinFleet({ token: 'gfj1.!!!', dataDir: dir, backend: new StubBackend(), agentVersion: '1' })).rejects.toThrow(/damaged/);
    await expect(
      joinFleet({ token: token('http://127.0.0.1:1'), dataDir: dir, backend: new StubBackend(), agentVersion: '1', labels: { 'bad key!': 'x' } }),
    ).rejects.toThrow(/bad label/);
  });

  it('fails clearly when the host facts cannot be read', async () => {
    const cp = await plane({ tokens: { tok1: { secret: 's3cret' } } });
    const backend = new StubBackend();
    backend.throwOnHostFacts = new Error('/proc is not mounted');
    const err = await joinError(joinFleet({ token: token(cp.url), dataDir: dir, backend, agentVersion: '1' }));
    expect(err.message).toMatch(/could not read this host's facts.*\/proc is not mounted/);
  });

  it('still joins when the GPUs cannot be read, with an empty GPU list', async () => {
    const cp = await plane({ tokens: { tok1: { secret: 's3cret' } } });
    const backend = new StubBackend();
    backend.throwOnGpus = new Error('nvidia-smi hung');
    await joinFleet({ token: token(cp.url), dataDir: dir, backend, agentVersion: '1' });
    expect(cp.enrollRequests[0]!.gpus).toEqual([]);
  });
});

describe('joinFleet over https with a pinned CA', () => {
  it('refuses a server whose CA does not match the fingerprint in the token', async () => {
    const tls = makeSelfSignedCert(dir, 'server');
    const other = makeSelfSignedCert(dir, 'other');
    const cp = await plane({ tls: { ...tls, ca: tls.cert }, tokens: { tok1: { secret: 's3cret' } } });
    const err = await joinError(
      joinFleet({ token: token(cp.url, certificateFingerprint(other.cert)), dataDir: dir, backend: new StubBackend(), agentVersion: '1' }),
    );
    expect(err.message).toMatch(/^the server's CA does not match the fingerprint in the join token/);
    expect(cp.enrollRequests).toHaveLength(0);
    expect(existsSync(join(dir, 'ca.pem'))).toBe(false);
  });

  it('pins the matching CA, enrolls over verified TLS and saves ca.pem', async () => {
    const tls = makeSelfSignedCert(dir, 'server');
    const cp = await plane({ tls: { ...tls, ca: tls.cert }, tokens: { tok1: { secret: 's3cret' } } });
    const fp = certificateFingerprint(tls.cert);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    const result = await joinFleet({ token: token(cp.url, fp), dataDir: dir, backend: new StubBackend(), agentVersion: '1' });
    expect(result.status).toBe('READY');
    expect(cp.enrollRequests).toHaveLength(1);
    const saved = readFileSync(join(dir, 'ca.pem'), 'utf8');
    expect(certificateFingerprint(saved)).toBe(fp);
    expect(new FileStateStore(dir).loadConfig()!.caPem).toBe(saved);
  });

  it('verifies the TLS session against the pinned CA: a server presenting another certificate is refused', async () => {
    const ca = makeSelfSignedCert(dir, 'ca');
    const impostor = makeSelfSignedCert(dir, 'impostor');
    // The CA endpoint hands out the genuine CA (fingerprint matches), but the TLS certificate is not signed by it.
    const cp = await plane({ tls: { ...impostor, ca: ca.cert }, tokens: { tok1: { secret: 's3cret' } } });
    const err = await joinError(
      joinFleet({ token: token(cp.url, certificateFingerprint(ca.cert)), dataDir: dir, backend: new StubBackend(), agentVersion: '1' }),
    );
    expect(err.message).toMatch(/cannot reach the server at https:\/\/127\.0\.0\.1:\d+: its certificate is not signed by the pinned CA/);
    expect(cp.enrollRequests).toHaveLength(0);
  });

  it('refuses an https URL without a fingerprint', async () => {
    const err = await joinError(joinFleet({ token: token('https://127.0.0.1:1', null), dataDir: dir, backend: new StubBackend(), agentVersion: '1' }));
    expect(err.message).toMatch(/no CA fingerprint/);
  });
});
