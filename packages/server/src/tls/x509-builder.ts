/**
 * Writes ECDSA P-256 X.509 v3 certificates (RFC 5280) for the server's own CA and its serving
 * certificate. Only what a TLS client checks is written: names, validity, key, basic
 * constraints, key usage, extended key usage, subject alternative names and key identifiers.
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  bitString,
  boolean,
  children,
  explicit,
  implicitPrimitive,
  objectId,
  octetString,
  readNode,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
  type Der,
} from './der.js';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** What goes into one certificate. */
export interface CertificateSpec {
  /** Encoded issuer Name: the CA's subject bytes exactly (clients compare them byte for byte). */
  issuer: Der;
  subject: Der;
  notBefore: number;
  notAfter: number;
  /** The certified public key. */
  publicKey: KeyObject;
  /** The issuer's private key (the subject's own for a self-signed CA). */
  signingKey: KeyObject;
  /** The issuer's public key, for the authority key identifier. */
  issuerPublicKey: KeyObject;
  kind: 'ca' | 'server';
  /** Server certificates only: DNS names and IP addresses (text). */
  dnsNames?: string[];
  ipAddresses?: string[];
}

/** A Name holding a common name and the organization "gpufleet". */
export function distinguishedName(commonName: string): Der {
  const rdn = (oid: string, value: string): Der => set(sequence(objectId(oid), utf8String(value)));
  return sequence(rdn(OID.organization, 'gpufleet'), rdn(OID.commonName, commonName));
}

/** Encoded subject Name of a DER certificate (to issue further certificates under it). */
export function subjectOf(certDer: Uint8Array): Der {
  const cert = readNode(certDer, 0);
  const tbs = children(certDer, cert)[0];
  if (!tbs) throw new RangeError('certificate has no TBSCertificate');
  const fields = children(certDer, tbs);
  // [0] version is optional; after it come serial, signature, issuer, validity, subject.
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[first + 4];
  if (!subject || subject.tag !== 0x30) throw new RangeError('certificate has no subject');
  return Buffer.from(certDer.subarray(subject.start, subject.end));
}

/** SHA-1 of the public key bits: the conventional key identifier (RFC 5280 §4.2.1.2 method 1). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const [, bits] = children(spki, readNode(spki, 0));
  if (!bits || bits.tag !== 0x03) throw new RangeError('public key has no BIT STRING');
  // Skip the leading "unused bits" byte of the BIT STRING.
  return createHash('sha1').update(spki.subarray(bits.contentStart + 1, bits.end)).digest();
}

/** The 4 or 16 address bytes of an IP literal; null where the text is not one. */
export function ipBytes(text: string): Buffer | null {
  if (isIPv4(text)) return Buffer.from(text.split('.').map((part) => Number(part)));
  if (!isIPv6(text) || text.includes('%')) return null;
  let body = text.toLowerCase();
  const v4 = /:(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body);
  if (v4) {
    // An embedded IPv4 tail (::ffff:10.0.0.1) stands for the last two groups: rewrite it as hex.
    const [a, b, c, d] = v4.slice(1).map((part) => Number(part));
    body = `${body.slice(0, v4.index + 1)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [headText, tailText] = body.includes('::') ? body.split('::') : [body, null];
  const parse = (part: string | null | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const head = parse(headText);
  const rest = parse(tailText);
  const zeros = 8 - head.length - rest.length;
  if (zeros < 0 || (tailText === null && zeros !== 0)) return null;
  const groups = [...head, ...new Array<number>(zeros).fill(0), ...rest];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function extension(oid: string, critical: boolean, value: Der): Der {
  return critical ? sequence(objectId(oid), boolean(true), octetString(value)) : sequence(objectId(oid), octetString(value));
}

function extensionsOf(spec: CertificateSpec): Der {
  const exts: Der[] = [];
  if (spec.kind === 'ca') {
    exts.push(extension(OID.basicConstraints, true, sequence(boolean(true))));
    // keyCertSign (bit 5) and cRLSign (bit 6): 0b0000_0110, one padding bit.
    exts.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)));
  } else {
    exts.push(extension(OID.basicConstraints, true, sequence()));
    // digitalSignature (bit 0) only: ECDHE key exchange signs, it never encrypts to the key.
    exts.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)));
    exts.push(extension(OID.extKeyUsage, false, sequence(objectId(OID.serverAuth))));
    const names: Der[] = [];
    for (const dns of spec.dnsNames ?? []) names.push(implicitPrimitive(2, Buffer.from(dns, 'ascii')));
    for (const ip of spec.ipAddresses ?? []) {
      const bytes = ipBytes(ip);
      if (!bytes) throw new RangeError(`not an IP address: ${ip}`);
      names.push(implicitPrimitive(7, bytes));
    }
    if (names.length > 0) exts.push(extension(OID.subjectAltName, false, sequence(...names)));
    exts.push(extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyIdentifier(spec.issuerPublicKey)))));
  }
  exts.push(extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spec.publicKey))));
  return explicit(3, sequence(...exts));
}

/** A positive 128-bit serial number (RFC 5280 allows up to 20 octets). */
function serialNumber(): Der {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return unsignedInteger(bytes);
}

/** Builds and signs a certificate; returns its DER bytes. */
export function buildCertificate(spec: CertificateSpec): Buffer {
  const algorithm = sequence(objectId(OID.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    serialNumber(),
    algorithm,
    spec.issuer,
    sequence(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    extensionsOf(spec),
  );
  // node signs ECDSA as a DER Ecdsa-Sig-Value, which is what X.509 carries.
  const signature = sign('sha256', tbs, spec.signingKey);
  return sequence(tbs, algorithm, bitString(signature));
}

/** PEM text of a DER certificate. */
export function certificatePem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
