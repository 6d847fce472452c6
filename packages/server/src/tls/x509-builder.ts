/**
 * Issues the server's own ECDSA P-256 X.509 v3 certificates (RFC 5280) with @peculiar/x509:
 * a self-signed CA and the serving certificates it signs. Only what a TLS client checks is
 * written: names, validity, key, basic constraints, key usage, extended key usage, subject
 * alternative names and key identifiers.
 */
import { randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
  type Extension,
  type JsonGeneralName,
} from './x509-lib.js';
import { ipBytes } from './ip-bytes.js';

// Passed to every call rather than set with cryptoProvider.set(): no process-wide state.
const crypto = webcrypto as unknown as NonNullable<Parameters<typeof X509CertificateGenerator.create>[1]>;
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Validity and key of one certificate. */
interface CertificateBase {
  notBefore: number;
  notAfter: number;
  /** The certified public key (ECDSA P-256). */
  publicKey: KeyObject;
}

/** A self-signed CA certificate. */
export interface CaCertificateSpec extends CertificateBase {
  commonName: string;
  /** The CA's own private key: the CA signs itself. */
  privateKey: KeyObject;
}

/** A serving certificate signed by the CA. */
export interface ServerCertificateSpec extends CertificateBase {
  commonName: string;
  /** The CA certificate's DER: its subject becomes the issuer, its key the authority key id. */
  caDer: Uint8Array;
  /** The CA's private key. */
  caKey: KeyObject;
  /** DNS names and IP addresses (text). */
  dnsNames?: string[];
  ipAddresses?: string[];
}

/** A Name holding the organization "gpufleet" and a common name. */
function distinguishedName(commonName: string): Name {
  return new Name([{ O: ['gpufleet'] }, { CN: [commonName] }]);
}

async function signingKey(privateKey: KeyObject): Promise<webcrypto.CryptoKey> {
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', pkcs8, ECDSA_P256, false, ['sign']);
}

/**
 * A copy on a plain ArrayBuffer: the library's BufferSource does not take node's Buffer, whose
 * memory may be a SharedArrayBuffer as far as the types know.
 */
function plainBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

function spkiOf(publicKey: KeyObject): Uint8Array<ArrayBuffer> {
  return plainBytes(publicKey.export({ type: 'spki', format: 'der' }));
}

/**
 * The text form @peculiar/x509 reads for an IP SAN. Its parser knows neither an embedded IPv4
 * tail (::ffff:10.0.0.1) nor zone ids, so the address goes through our parser first and is
 * written as plain dotted IPv4 or eight hex groups.
 */
function sanIp(text: string): string {
  const bytes = ipBytes(text);
  if (!bytes) throw new RangeError(`not an IP address: ${text}`);
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** A positive 128-bit serial number with a non-zero first byte (so always 16 octets in DER). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

async function issue(params: { subject: Name; issuer: Name; base: CertificateBase; signer: KeyObject; extensions: Extension[] }): Promise<Buffer> {
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: params.subject,
      issuer: params.issuer,
      notBefore: new Date(params.base.notBefore),
      notAfter: new Date(params.base.notAfter),
      publicKey: spkiOf(params.base.publicKey),
      signingKey: await signingKey(params.signer),
      signingAlgorithm: SIGNING,
      extensions: params.extensions,
    },
    crypto,
  );
  return Buffer.from(cert.rawData);
}

/** Builds and signs a self-signed CA certificate; returns its DER bytes. */
export async function buildCaCertificate(spec: CaCertificateSpec): Promise<Buffer> {
  const name = distinguishedName(spec.commonName);
  return issue({
    subject: name,
    issuer: name,
    base: spec,
    signer: spec.privateKey,
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(spkiOf(spec.publicKey), false, crypto),
    ],
  });
}

/** Builds a serving certificate signed by the CA; returns its DER bytes. */
export async function buildServerCertificate(spec: ServerCertificateSpec): Promise<Buffer> {
  const ca = new X509Certificate(plainBytes(spec.caDer));
  const names: JsonGeneralName[] = [
    ...(spec.dnsNames ?? []).map((value): JsonGeneralName => ({ type: 'dns', value })),
    ...(spec.ipAddresses ?? []).map((value): JsonGeneralName => ({ type: 'ip', value: sanIp(value) })),
  ];
  const extensions: Extension[] = [
    new BasicConstraintsExtension(false, undefined, true),
    // digitalSignature only: ECDHE key exchange signs, it never encrypts to the key.
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
    new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
  ];
  if (names.length > 0) extensions.push(new SubjectAlternativeNameExtension(names, false));
  extensions.push(await AuthorityKeyIdentifierExtension.create(ca.publicKey, false, crypto));
  extensions.push(await SubjectKeyIdentifierExtension.create(spkiOf(spec.publicKey), false, crypto));
  return issue({
    subject: distinguishedName(spec.commonName),
    // The CA's subject as it was encoded: clients compare issuer and subject byte for byte.
    issuer: ca.subjectName,
    base: spec,
    signer: spec.caKey,
    extensions,
  });
}

/** PEM text of a DER certificate. */
export function certificatePem(der: Uint8Array): string {
  return `${new X509Certificate(plainBytes(der)).toString('pem')}\n`;
}
