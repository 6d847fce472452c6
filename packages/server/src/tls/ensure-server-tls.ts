import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { loadGivenTls } from './given-tls.js';
import { certifiedNames, ipKey, resolveServerNames, type ServerNames } from './server-names.js';
import { certificateFingerprint, pemCertificateBlocks, type ServerTls } from './tls-material.js';
import { buildCaCertificate, buildServerCertificate, certificatePem } from './x509-builder.js';

export type { ServerTls } from './tls-material.js';

/** Options of ensureServerTls. */
export interface EnsureServerTlsOptions {
  /** The server's data folder; the self-made material lives in `<dataDir>/tls/`. */
  dataDir: string;
  /** DNS names agents and users reach the server by (localhost is always added). */
  hostnames: string[];
  /** IP addresses agents and users reach the server by (127.0.0.1 and ::1 are always added). */
  ips: string[];
  /** Operator-given certificate chain (PEM, leaf first); with keyFile, replaces the self-made CA. */
  certFile?: string;
  keyFile?: string;
  /** Epoch ms; injected so tests control validity and expiry. */
  clock?: () => number;
}

const DAY_MS = 86_400_000;
const CA_LIFETIME_MS = 3652 * DAY_MS; // 10 years
const SERVER_LIFETIME_MS = 365 * DAY_MS;
/** A serving certificate this close to expiry is re-issued at start. */
const RENEW_BEFORE_MS = 30 * DAY_MS;
/** notBefore is back-dated a little so clients with a slightly slow clock accept a fresh cert. */
const BACKDATE_MS = 5 * 60_000;

const FILES = { ca: 'ca.pem', caKey: 'ca-key.pem', server: 'server.pem', serverKey: 'server-key.pem' } as const;

interface Ca {
  cert: X509Certificate;
  pem: string;
  key: KeyObject;
}

/**
 * The TLS material the server listens with. With certFile/keyFile, those files (checked).
 * Otherwise a self-made CA (ECDSA P-256, 10 years) and a serving certificate it signs
 * (ECDSA P-256, 1 year, every requested name), kept in `<dataDir>/tls/` and reused. The serving
 * certificate is re-issued from the same CA when it expires within 30 days, lacks a requested
 * name, or does not match its key or CA, so the CA fingerprint in join tokens never changes.
 */
export async function ensureServerTls(opts: EnsureServerTlsOptions): Promise<ServerTls> {
  const given = [opts.certFile, opts.keyFile].filter((f) => f !== undefined && f !== null && f !== '');
  if (given.length === 1) throw new FleetError('invalid_argument', 'a TLS certificate file and key file must be given together');
  if (given.length === 2) return loadGivenTls(opts.certFile!, opts.keyFile!);
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw new FleetError('invalid_argument', 'ensureServerTls needs a data folder');

  const now = (opts.clock ?? Date.now)();
  const names = resolveServerNames(opts.hostnames ?? [], opts.ips ?? []);
  const dir = join(opts.dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const ca = await loadOrCreateCa(dir, now);
  let serving = loadServing(dir, ca, names, now);
  if (!serving) {
    serving = await issueServing(ca, names, now);
    // Key first: a crash between the two writes leaves a cert without its key, which the next
    // start spots (checkPrivateKey) and re-issues.
    writeSecret(join(dir, FILES.serverKey), serving.keyPem);
    writeAtomic(join(dir, FILES.server), serving.certPem, 0o644);
  }
  return { caPem: ca.pem, certPem: serving.certPem, keyPem: serving.keyPem, caFingerprint: certificateFingerprint(ca.cert) };
}

async function loadOrCreateCa(dir: string, now: number): Promise<Ca> {
  const certPath = join(dir, FILES.ca);
  const keyPath = join(dir, FILES.caKey);
  if (!existsSync(certPath)) {
    // No CA certificate means no fingerprint was ever handed out: a fresh CA breaks nothing.
    // A stray ca-key.pem without it (a crash mid-write) is simply replaced.
    const ca = await createCa(now);
    writeSecret(keyPath, ca.key.export({ type: 'pkcs8', format: 'pem' }).toString());
    writeAtomic(certPath, ca.pem, 0o644);
    return ca;
  }
  // From here on join tokens may pin this CA: never replace it silently.
  const fail = (why: string, cause?: unknown): never => {
    throw new FleetError(
      'failed_precondition',
      `the server CA in ${dir} is unusable (${why}); fix or restore it, or delete the folder to make a new CA (existing join tokens and enrolled agents then stop trusting this server)`,
      { cause },
    );
  };
  let cert: X509Certificate | undefined;
  let pem = '';
  try {
    pem = pemCertificateBlocks(readFileSync(certPath, 'utf8'))[0] ?? '';
    cert = new X509Certificate(pem);
  } catch (err) {
    fail(`${FILES.ca} is not a certificate`, err);
  }
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey(readFileSync(keyPath));
  } catch (err) {
    fail(`${FILES.caKey} is missing or not a private key`, err);
  }
  if (!cert!.checkPrivateKey(key!)) fail(`${FILES.caKey} does not belong to ${FILES.ca}`);
  if (!cert!.ca) fail(`${FILES.ca} is not a CA certificate`);
  if (Date.parse(cert!.validTo) <= now) fail(`${FILES.ca} expired on ${cert!.validTo}`);
  return { cert: cert!, pem, key: key! };
}

async function createCa(now: number): Promise<Ca> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = await buildCaCertificate({
    commonName: `gpufleet CA ${randomBytes(6).toString('hex')}`,
    notBefore: now - BACKDATE_MS,
    notAfter: now + CA_LIFETIME_MS,
    publicKey,
    privateKey,
  });
  const pem = certificatePem(der);
  return { cert: new X509Certificate(der), pem, key: privateKey };
}

/** The kept serving certificate and key, or null where they must be (re-)issued. */
function loadServing(dir: string, ca: Ca, names: ServerNames, now: number): { certPem: string; keyPem: string } | null {
  let certPem: string;
  let keyPem: string;
  let leaf: X509Certificate;
  let key: KeyObject;
  try {
    certPem = readFileSync(join(dir, FILES.server), 'utf8');
    keyPem = readFileSync(join(dir, FILES.serverKey), 'utf8');
    const first = pemCertificateBlocks(certPem)[0];
    if (!first) return null;
    leaf = new X509Certificate(first);
    key = createPrivateKey(keyPem);
  } catch {
    return null; // missing or damaged: ours to re-make
  }
  if (!leaf.checkPrivateKey(key)) return null;
  if (!leaf.checkIssued(ca.cert) || !leaf.verify(ca.cert.publicKey)) return null;
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (!(notBefore <= now) || !(notAfter - now > RENEW_BEFORE_MS)) return null;
  const have = certifiedNames(leaf.subjectAltName);
  if (names.dns.some((d) => !have.dns.has(d))) return null;
  if (names.ips.some((ip) => !have.ips.has(ipKey(ip)!))) return null;
  return { certPem, keyPem };
}

async function issueServing(ca: Ca, names: ServerNames, now: number): Promise<{ certPem: string; keyPem: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // Prefer a real name over "localhost" as the subject CN (clients match on SANs anyway).
  const cn = names.dns.find((d) => d !== 'localhost') ?? names.dns[0] ?? 'gpufleet server';
  const der = await buildServerCertificate({
    commonName: cn,
    caDer: ca.cert.raw,
    caKey: ca.key,
    notBefore: now - BACKDATE_MS,
    // Never outlive the CA: clients would reject the tail end anyway.
    notAfter: Math.min(now + SERVER_LIFETIME_MS, Date.parse(ca.cert.validTo)),
    publicKey,
    dnsNames: names.dns,
    ipAddresses: names.ips,
  });
  // The chain carries the CA so an agent can find the certificate its join token pins.
  return { certPem: certificatePem(der) + ca.pem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** Writes through a temporary file and a rename so a crash never leaves half a file. */
function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode });
  // writeFileSync's mode is filtered by the umask; set it outright.
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function writeSecret(path: string, text: string): void {
  writeAtomic(path, text, 0o600);
}
