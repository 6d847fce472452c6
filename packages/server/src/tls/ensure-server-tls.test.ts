import { createHash, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { ensureServerTls } from './ensure-server-tls.js';
import { pemCertificateBlocks, type ServerTls } from './tls-material.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const dirs: string[] = [];
const servers: Server[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-tls-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function leafOf(tls: ServerTls): X509Certificate {
  return new X509Certificate(pemCertificateBlocks(tls.certPem)[0]!);
}

async function expectFleetError(promise: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FleetError);
  expect((err as FleetError).code).toBe(code);
  expect((err as FleetError).message).toMatch(text);
}

async function serve(tls: ServerTls): Promise<number> {
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => res.end('ok'));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** GETs / over TLS; resolves with the body and the CA certificate the server sent, or rejects. */
function get(port: number, host: string, ca: string | undefined): Promise<{ body: string; chainTop: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', servername: host === '127.0.0.1' ? undefined : host, port, path: '/', ca, headers: { host } }, (res) => {
      let top = (res.socket as TLSSocket).getPeerCertificate(true);
      while (top.issuerCertificate && top.issuerCertificate !== top) top = top.issuerCertificate;
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ body, chainTop: top }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ensureServerTls: self-made CA', () => {
  it('makes a CA and a serving certificate that verify, with every requested name', async () => {
    const tls = await ensureServerTls({ dataDir: tempDir(), hostnames: ['fleet.example.com'], ips: ['10.1.2.3', 'fd00::17'], clock: () => T0 });
    const ca = new X509Certificate(tls.caPem);
    const leaf = leafOf(tls);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(ca.subject).toMatch(/CN=gpufleet CA [0-9a-f]+/);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(leaf.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    for (const host of ['fleet.example.com', 'localhost']) expect(leaf.checkHost(host, { subject: 'never' })).toBe(host);
    expect(leaf.checkHost('other.example.com', { subject: 'never' })).toBeUndefined();
    for (const ip of ['10.1.2.3', '127.0.0.1', '::1', 'fd00::17']) expect(leaf.checkIP(ip)).toBe(ip);
    expect(leaf.checkIP('10.1.2.4')).toBeUndefined();
    // Validity: 1 year for the server, 10 years for the CA, both counted from the clock.
    expect(Date.parse(leaf.validTo) - T0).toBeGreaterThan(364 * DAY);
    expect(Date.parse(leaf.validTo) - T0).toBeLessThanOrEqual(365 * DAY);
    expect(Date.parse(ca.validTo) - T0).toBeGreaterThan(3650 * DAY);
    expect(Date.parse(leaf.validFrom)).toBeLessThanOrEqual(T0);
    // The fingerprint is SHA-256 of the CA's DER, lower-case hex.
    expect(tls.caFingerprint).toBe(createHash('sha256').update(ca.raw).digest('hex'));
    expect(tls.caFingerprint).toBe(ca.fingerprint256.replaceAll(':', '').toLowerCase());
  });

  it('serves HTTPS that a client trusting only the CA accepts and other clients refuse', async () => {
    const tls = await ensureServerTls({ dataDir: tempDir(), hostnames: ['fleet.example.com'], ips: [] });
    const port = await serve(tls);
    const ok = await get(port, 'fleet.example.com', tls.caPem);
    expect(ok.body).toBe('ok');
    expect((await get(port, 'localhost', tls.caPem)).body).toBe('ok');
    expect((await get(port, '127.0.0.1', tls.caPem)).body).toBe('ok');
    // The chain carries the CA, so an agent can compare it with the join token's fingerprint.
    expect(ok.chainTop.fingerprint256.replaceAll(':', '').toLowerCase()).toBe(tls.caFingerprint);

    await expect(get(port, 'fleet.example.com', undefined)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    const stranger = await ensureServerTls({ dataDir: tempDir(), hostnames: [], ips: [] });
    await expect(get(port, 'fleet.example.com', stranger.caPem)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    await expect(get(port, 'not-certified.example.com', tls.caPem)).rejects.toThrow(/altnames|Hostname/i);
  });

  it('reuses the kept material on the next start', async () => {
    const dataDir = tempDir();
    const first = await ensureServerTls({ dataDir, hostnames: ['a.example.com'], ips: ['10.0.0.1'], clock: () => T0 });
    const second = await ensureServerTls({ dataDir, hostnames: ['A.example.com.'], ips: ['10.0.0.1'], clock: () => T0 + 100 * DAY });
    expect(second).toEqual(first);
  });

  it('re-issues from the same CA when a requested name is missing', async () => {
    const dataDir = tempDir();
    const first = await ensureServerTls({ dataDir, hostnames: ['a.example.com'], ips: [], clock: () => T0 });
    const dnsOnly = await ensureServerTls({ dataDir, hostnames: ['a.example.com', 'b.example.com'], ips: [], clock: () => T0 });
    expect(dnsOnly.certPem).not.toBe(first.certPem);
    expect(leafOf(dnsOnly).checkHost('b.example.com', { subject: 'never' })).toBe('b.example.com');
    const second = await ensureServerTls({ dataDir, hostnames: ['a.example.com', 'b.example.com'], ips: ['192.168.7.7'], clock: () => T0 });
    expect(second.certPem).not.toBe(dnsOnly.certPem);
    expect(second.caFingerprint).toBe(first.caFingerprint);
    expect(second.caPem).toBe(first.caPem);
    expect(second.certPem).not.toBe(first.certPem);
    const leaf = leafOf(second);
    expect(leaf.checkHost('b.example.com', { subject: 'never' })).toBe('b.example.com');
    expect(leaf.checkIP('192.168.7.7')).toBe('192.168.7.7');
    expect(leaf.verify(new X509Certificate(first.caPem).publicKey)).toBe(true);
    // A name dropped from the config does not force a new certificate.
    const third = await ensureServerTls({ dataDir, hostnames: ['b.example.com'], ips: [], clock: () => T0 });
    expect(third.certPem).toBe(second.certPem);
  });

  it('re-issues a serving certificate that expires within 30 days, keeping the CA', async () => {
    const dataDir = tempDir();
    const first = await ensureServerTls({ dataDir, hostnames: [], ips: [], clock: () => T0 });
    const early = await ensureServerTls({ dataDir, hostnames: [], ips: [], clock: () => T0 + 300 * DAY });
    expect(early.certPem).toBe(first.certPem);
    const late = await ensureServerTls({ dataDir, hostnames: [], ips: [], clock: () => T0 + 340 * DAY });
    expect(late.certPem).not.toBe(first.certPem);
    expect(late.caFingerprint).toBe(first.caFingerprint);
    expect(Date.parse(leafOf(late).validTo)).toBeGreaterThan(T0 + 700 * DAY);
  });

  it('re-issues a damaged or foreign serving certificate, keeping the CA', async () => {
    const dataDir = tempDir();
    const first = await ensureServerTls({ dataDir, hostnames: [], ips: [] });
    writeFileSync(join(dataDir, 'tls', 'server.pem'), 'garbage');
    const repaired = await ensureServerTls({ dataDir, hostnames: [], ips: [] });
    expect(repaired.caFingerprint).toBe(first.caFingerprint);
    expect(leafOf(repaired).verify(new X509Certificate(first.caPem).publicKey)).toBe(true);

    // A serving pair signed by some other CA is replaced too.
    const otherDir = tempDir();
    await ensureServerTls({ dataDir: otherDir, hostnames: [], ips: [] });
    for (const f of ['server.pem', 'server-key.pem']) writeFileSync(join(dataDir, 'tls', f), readFileSync(join(otherDir, 'tls', f)));
    const again = await ensureServerTls({ dataDir, hostnames: [], ips: [] });
    expect(leafOf(again).checkIssued(new X509Certificate(first.caPem))).toBe(true);
  });

  it('writes private keys with mode 0600 and the folder with 0700', async () => {
    const dataDir = tempDir();
    await ensureServerTls({ dataDir, hostnames: [], ips: [] });
    const mode = (f: string): number => statSync(join(dataDir, 'tls', f)).mode & 0o777;
    expect(mode('ca-key.pem')).toBe(0o600);
    expect(mode('server-key.pem')).toBe(0o600);
    expect(mode('ca.pem')).toBe(0o644);
    expect(mode('server.pem')).toBe(0o644);
    expect(statSync(join(dataDir, 'tls')).mode & 0o777).toBe(0o700);
    // A re-issue (here: a missing key) writes the new key 0600 as well.
    chmodSync(join(dataDir, 'tls', 'server-key.pem'), 0o644);
    unlinkSync(join(dataDir, 'tls', 'server-key.pem'));
    await ensureServerTls({ dataDir, hostnames: [], ips: [] });
    expect(mode('server-key.pem')).toBe(0o600);
  });

  it('refuses to replace a CA that is present but unusable', async () => {
    const dataDir = tempDir();
    await ensureServerTls({ dataDir, hostnames: [], ips: [] });
    unlinkSync(join(dataDir, 'tls', 'ca-key.pem'));
    await expectFleetError(ensureServerTls({ dataDir, hostnames: [], ips: [] }), 'failed_precondition', /ca-key\.pem/);
    writeFileSync(join(dataDir, 'tls', 'ca.pem'), 'not a certificate');
    await expectFleetError(ensureServerTls({ dataDir, hostnames: [], ips: [] }), 'failed_precondition', /ca\.pem/);
  });

  it('refuses invalid names with a clear error and accepts an IP among the hostnames', async () => {
    await expectFleetError(ensureServerTls({ dataDir: tempDir(), hostnames: ['bad host!'], ips: [] }), 'invalid_argument', /bad host!/);
    await expectFleetError(ensureServerTls({ dataDir: tempDir(), hostnames: [], ips: ['10.0.0.300'] }), 'invalid_argument', /10\.0\.0\.300/);
    await expectFleetError(ensureServerTls({ dataDir: tempDir(), hostnames: [], ips: ['fleet.example.com'] }), 'invalid_argument', /not an IP/);
    const tls = await ensureServerTls({ dataDir: tempDir(), hostnames: ['10.9.8.7', '[fd00::1]'], ips: [] });
    expect(leafOf(tls).checkIP('10.9.8.7')).toBe('10.9.8.7');
    expect(leafOf(tls).checkIP('fd00::1')).toBe('fd00::1');
  });
});

describe('ensureServerTls: given certificate files', () => {
  async function givenFiles(): Promise<{ dir: string; made: ServerTls; certFile: string; keyFile: string }> {
    const dir = tempDir();
    const made = await ensureServerTls({ dataDir: join(dir, 'source'), hostnames: ['given.example.com'], ips: [] });
    const certFile = join(dir, 'chain.pem');
    const keyFile = join(dir, 'key.pem');
    writeFileSync(certFile, made.certPem);
    writeFileSync(keyFile, made.keyPem);
    return { dir, made, certFile, keyFile };
  }

  it("uses the files, taking the chain's last certificate as the CA", async () => {
    const { dir, made, certFile, keyFile } = await givenFiles();
    const tls = await ensureServerTls({ dataDir: join(dir, 'data'), hostnames: [], ips: [], certFile, keyFile });
    expect(tls.caPem).toBe(made.caPem);
    expect(tls.caFingerprint).toBe(made.caFingerprint);
    expect(tls.certPem).toBe(made.certPem);
    const port = await serve(tls);
    expect((await get(port, 'given.example.com', tls.caPem)).body).toBe('ok');
    // Nothing self-made appears when files are given.
    expect(() => statSync(join(dir, 'data', 'tls'))).toThrow();
  });

  it('treats a single certificate as its own CA', async () => {
    const { dir, made, keyFile } = await givenFiles();
    const leafOnly = join(dir, 'leaf.pem');
    writeFileSync(leafOnly, pemCertificateBlocks(made.certPem)[0]!);
    const tls = await ensureServerTls({ dataDir: dir, hostnames: [], ips: [], certFile: leafOnly, keyFile });
    expect(tls.caPem).toBe(pemCertificateBlocks(made.certPem)[0]);
    expect(tls.caFingerprint).toBe(createHash('sha256').update(leafOf(made).raw).digest('hex'));
  });

  it('refuses garbage, missing and mismatched files with invalid_argument', async () => {
    const { dir, certFile, keyFile } = await givenFiles();
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'hello\x00\xff not a certificate');
    const badBlock = join(dir, 'bad-block.pem');
    writeFileSync(badBlock, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const opts = { dataDir: dir, hostnames: [], ips: [] };
    await expectFleetError(ensureServerTls({ ...opts, certFile: garbage, keyFile }), 'invalid_argument', /garbage\.pem.*no parseable certificate/);
    await expectFleetError(ensureServerTls({ ...opts, certFile: badBlock, keyFile }), 'invalid_argument', /bad-block\.pem/);
    await expectFleetError(ensureServerTls({ ...opts, certFile, keyFile: garbage }), 'invalid_argument', /garbage\.pem.*private key/);
    await expectFleetError(ensureServerTls({ ...opts, certFile: join(dir, 'missing.pem'), keyFile }), 'invalid_argument', /cannot read.*missing\.pem/);
    await expectFleetError(ensureServerTls({ ...opts, certFile }), 'invalid_argument', /together/);
    const other = await ensureServerTls({ dataDir: join(dir, 'other'), hostnames: [], ips: [] });
    const otherKey = join(dir, 'other-key.pem');
    writeFileSync(otherKey, other.keyPem);
    await expectFleetError(ensureServerTls({ ...opts, certFile, keyFile: otherKey }), 'invalid_argument', /does not belong/);
  });
});
