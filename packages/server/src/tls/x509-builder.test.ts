import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import {
  X509Certificate as PeculiarCertificate,
  KeyUsagesExtension,
  KeyUsageFlags,
  SubjectKeyIdentifierExtension,
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
} from './x509-lib.js';
import { describe, expect, it } from 'vitest';
import { buildCaCertificate, buildServerCertificate, certificatePem } from './x509-builder.js';

const T0 = Date.UTC(2026, 0, 1);
const T1 = Date.UTC(2027, 0, 1);
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

function keyIdOf(publicKey: ReturnType<typeof p256>['publicKey']): string {
  // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. For P-256 SPKI DER the
  // BIT STRING content (after its unused-bits byte) is the last 65 bytes.
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest('hex');
}

describe('buildCaCertificate', () => {
  it('writes a self-signed ECDSA P-256 CA: basic constraints, keyCertSign|cRLSign, key id, exact validity', async () => {
    const { privateKey, publicKey } = p256();
    const der = await buildCaCertificate({ commonName: 'gpufleet CA test', notBefore: T0, notAfter: T1, publicKey, privateKey });
    const cert = new X509Certificate(der);
    expect(cert.subject).toBe('O=gpufleet\nCN=gpufleet CA test');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.ca).toBe(true);
    expect(cert.verify(publicKey)).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(Date.parse(cert.validFrom)).toBe(T0);
    expect(Date.parse(cert.validTo)).toBe(T1);

    const parsed = new PeculiarCertificate(new Uint8Array(der));
    expect(parsed.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
    const bc = parsed.getExtension(BasicConstraintsExtension)!;
    expect([bc.ca, bc.critical]).toEqual([true, true]);
    const ku = parsed.getExtension(KeyUsagesExtension)!;
    expect([ku.usages, ku.critical]).toEqual([KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true]);
    expect(parsed.getExtension(SubjectKeyIdentifierExtension)!.keyId).toBe(keyIdOf(publicKey));
    // A positive 16-octet serial (RFC 5280 §4.1.2.2 allows up to 20).
    expect(cert.serialNumber).toMatch(/^[0-9A-F]{32}$/);
    expect(parseInt(cert.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
  });
});

describe('buildServerCertificate', () => {
  async function makeCa() {
    const ca = p256();
    const caDer = await buildCaCertificate({ commonName: 'gpufleet CA t', notBefore: T0, notAfter: T1, publicKey: ca.publicKey, privateKey: ca.privateKey });
    return { ...ca, caDer, caCert: new X509Certificate(caDer) };
  }

  it('writes a leaf the CA issued: every SAN, digitalSignature, serverAuth, authority key id', async () => {
    const ca = await makeCa();
    const leafKeys = p256();
    const der = await buildServerCertificate({
      commonName: 'fleet.example.com',
      caDer: ca.caDer,
      caKey: ca.privateKey,
      notBefore: T0,
      notAfter: T1,
      publicKey: leafKeys.publicKey,
      dnsNames: ['localhost', 'fleet.example.com'],
      ipAddresses: ['127.0.0.1', '::1', 'fd00::17', '::ffff:10.0.0.1'],
    });
    const leaf = new X509Certificate(der);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca.caCert)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(leafKeys.privateKey)).toBe(true);
    expect(leaf.subject).toBe('O=gpufleet\nCN=fleet.example.com');
    expect(leaf.checkHost('fleet.example.com')).toBe('fleet.example.com');
    expect(leaf.checkIP('fd00::17')).toBe('fd00::17');
    expect(leaf.checkIP('10.0.0.1')).toBeUndefined(); // the mapped IPv6 form is its own name
    expect(leaf.subjectAltName).toBe(
      'DNS:localhost, DNS:fleet.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:0:17, IP Address:0:0:0:0:0:FFFF:A00:1',
    );
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);

    const parsed = new PeculiarCertificate(new Uint8Array(der));
    const ku = parsed.getExtension(KeyUsagesExtension)!;
    expect([ku.usages, ku.critical]).toEqual([KeyUsageFlags.digitalSignature, true]);
    const bc = parsed.getExtension(BasicConstraintsExtension)!;
    expect([bc.ca, bc.critical]).toEqual([false, true]);
    expect(parsed.getExtension(AuthorityKeyIdentifierExtension)!.keyId).toBe(keyIdOf(ca.publicKey));
    expect(parsed.getExtension(SubjectKeyIdentifierExtension)!.keyId).toBe(keyIdOf(leafKeys.publicKey));
    // The issuer is the CA's subject byte for byte.
    expect(
      Buffer.from(parsed.issuerName.toArrayBuffer()).equals(Buffer.from(new PeculiarCertificate(new Uint8Array(ca.caDer)).subjectName.toArrayBuffer())),
    ).toBe(true);
  });

  it('refuses a non-IP address in the SAN list, and a CA that is not a certificate', async () => {
    const ca = await makeCa();
    const { publicKey } = p256();
    const base = { commonName: 'x', caKey: ca.privateKey, notBefore: T0, notAfter: T1, publicKey };
    await expect(buildServerCertificate({ ...base, caDer: ca.caDer, ipAddresses: ['nope'] })).rejects.toThrow(/not an IP address/);
    await expect(buildServerCertificate({ ...base, caDer: Buffer.from('garbage') })).rejects.toThrow();
  });

  it('writes PEM that node reads back to the same DER', async () => {
    const ca = await makeCa();
    const pem = certificatePem(ca.caDer);
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/);
    expect(new X509Certificate(pem).raw.equals(ca.caDer)).toBe(true);
  });
});
