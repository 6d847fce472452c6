import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { certificateFingerprint, pemCertificateBlocks } from './tls-material.js';
import { buildCaCertificate, certificatePem } from './x509-builder.js';

const DAY_MS = 86_400_000;
const CA_LIFETIME_MS = 3652 * DAY_MS; // 10 years
/** notBefore is back-dated a little so clients with a slightly slow clock accept a fresh cert. */
export const BACKDATE_MS = 5 * 60_000;

/** The self-made CA: its certificate (and PEM text) and private key. */
export interface Ca {
  cert: X509Certificate;
  pem: string;
  key: KeyObject;
  /** SHA-256 of the certificate's DER, as join tokens pin it. */
  fingerprint: string;
}

/** A fresh CA: ECDSA P-256, valid 10 years from `now`. */
export async function createCa(now: number): Promise<Ca> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = await buildCaCertificate({
    commonName: `gpufleet CA ${randomBytes(6).toString('hex')}`,
    notBefore: now - BACKDATE_MS,
    notAfter: now + CA_LIFETIME_MS,
    publicKey,
    privateKey,
  });
  const cert = new X509Certificate(der);
  return { cert, pem: certificatePem(der), key: privateKey, fingerprint: certificateFingerprint(cert) };
}

/** The CA's private key as PKCS#8 PEM (what the data dir file and the sealed record hold). */
export function caKeyPem(ca: Ca): string {
  return ca.key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** How a CA's two parts are named in messages (file names, or parts of a record). */
export interface CaPartNames {
  cert: string;
  key: string;
}

/**
 * Reads a CA from its certificate and key text, checking what a working CA needs. Throws an
 * Error whose message says what is wrong in a few words; callers add where it came from.
 */
export function parseCa(certText: string, keyText: string | Buffer, now: number, names: CaPartNames): Ca {
  let cert: X509Certificate;
  let pem: string;
  try {
    pem = pemCertificateBlocks(certText)[0] ?? '';
    cert = new X509Certificate(pem);
  } catch {
    throw new Error(`${names.cert} is not a certificate`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyText);
  } catch {
    throw new Error(`${names.key} is missing or not a private key`);
  }
  if (!cert.checkPrivateKey(key)) throw new Error(`${names.key} does not belong to ${names.cert}`);
  if (!cert.ca) throw new Error(`${names.cert} is not a CA certificate`);
  if (Date.parse(cert.validTo) <= now) throw new Error(`${names.cert} expired on ${cert.validTo}`);
  return { cert, pem, key, fingerprint: certificateFingerprint(cert) };
}

/** The fingerprint of the first certificate in a PEM text, or null when there is none readable. */
export function pemFingerprint(text: string): string | null {
  try {
    const first = pemCertificateBlocks(text)[0];
    return first ? certificateFingerprint(new X509Certificate(first)) : null;
  } catch {
    return null;
  }
}
