import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKDATE_MS, type Ca } from './ca-material.js';
import { certifiedNames, ipKey, type ServerNames } from './server-names.js';
import { pemCertificateBlocks } from './tls-material.js';
import { TLS_FILES, writeAtomic, writeSecret } from './tls-files.js';
import { buildServerCertificate, certificatePem } from './x509-builder.js';

const DAY_MS = 86_400_000;
const SERVER_LIFETIME_MS = 365 * DAY_MS;
/** A serving certificate this close to expiry is re-issued at start. */
const RENEW_BEFORE_MS = 30 * DAY_MS;

/** A serving certificate chain (leaf, then the CA) and its key, PEM. */
export interface Serving {
  certPem: string;
  keyPem: string;
}

/**
 * This server's own serving certificate from its data dir, re-issued from `ca` and written there
 * when it is missing, damaged, expiring within 30 days, lacking a requested name, or not issued
 * by `ca` (the CA changed: a shared CA replaced the data dir's). Each replica keeps its own, for
 * its own names; only the CA is shared.
 */
export async function ensureServing(dir: string, ca: Ca, names: ServerNames, now: number): Promise<Serving> {
  const kept = loadServing(dir, ca, names, now);
  if (kept) return kept;
  const serving = await issueServing(ca, names, now);
  // Key first: a crash between the two writes leaves a cert without its key, which the next
  // start spots (checkPrivateKey) and re-issues.
  writeSecret(join(dir, TLS_FILES.serverKey), serving.keyPem);
  writeAtomic(join(dir, TLS_FILES.server), serving.certPem, 0o644);
  return serving;
}

/** The kept serving certificate and key, or null where they must be (re-)issued. */
function loadServing(dir: string, ca: Ca, names: ServerNames, now: number): Serving | null {
  let certPem: string;
  let keyPem: string;
  let leaf: X509Certificate;
  let key: KeyObject;
  try {
    certPem = readFileSync(join(dir, TLS_FILES.server), 'utf8');
    keyPem = readFileSync(join(dir, TLS_FILES.serverKey), 'utf8');
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

async function issueServing(ca: Ca, names: ServerNames, now: number): Promise<Serving> {
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
