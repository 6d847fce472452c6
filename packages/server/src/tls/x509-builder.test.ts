import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { children, objectId, readNode, time, unsignedInteger } from './der.js';
import { buildCertificate, distinguishedName, ipBytes, subjectOf } from './x509-builder.js';

describe('DER pieces', () => {
  it('encodes OIDs, integers and times as DER', () => {
    expect(objectId('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(objectId('2.5.29.17').toString('hex')).toBe('0603551d11');
    expect(unsignedInteger(Buffer.from([0x80, 1])).toString('hex')).toBe('0203008001');
    expect(unsignedInteger(Buffer.from([0, 0, 5])).toString('hex')).toBe('020105');
    expect(time(Date.UTC(2035, 5, 1, 2, 3, 4)).toString('ascii', 2)).toBe('350601020304Z');
    expect(time(Date.UTC(2035, 5, 1))[0]).toBe(0x17); // UTCTime
    expect(time(Date.UTC(2050, 0, 1))[0]).toBe(0x18); // GeneralizedTime from 2050 on
    expect(time(Date.UTC(2050, 0, 1)).toString('ascii', 2)).toBe('20500101000000Z');
  });

  it('reads long lengths and refuses truncated input', () => {
    const long = Buffer.concat([Buffer.from([0x04, 0x82, 0x01, 0x00]), Buffer.alloc(256)]);
    expect(readNode(long, 0)).toEqual({ tag: 4, start: 0, contentStart: 4, end: 260 });
    expect(() => readNode(long.subarray(0, 100), 0)).toThrow(RangeError);
    expect(() => readNode(Buffer.from([0x30]), 0)).toThrow(RangeError);
    expect(() => children(Buffer.from([0x30, 0x02, 0x04, 0x05]), readNode(Buffer.from([0x30, 0x02, 0x04, 0x05]), 0))).toThrow(RangeError);
  });
});

describe('ipBytes', () => {
  it('turns IPv4 and IPv6 literals into address bytes', () => {
    expect(ipBytes('10.1.2.3')?.toString('hex')).toBe('0a010203');
    expect(ipBytes('::1')?.toString('hex')).toBe('00000000000000000000000000000001');
    expect(ipBytes('fd00::17')?.toString('hex')).toBe('fd000000000000000000000000000017');
    expect(ipBytes('FE80:0:0:0:0:0:1:2')?.toString('hex')).toBe('fe800000000000000000000000010002');
    expect(ipBytes('::ffff:1.2.3.4')?.toString('hex')).toBe('00000000000000000000ffff01020304');
    expect(ipBytes('::')?.toString('hex')).toBe('0'.repeat(32));
  });

  it('returns null for anything else', () => {
    for (const bad of ['', 'localhost', '1.2.3', '1.2.3.256', 'fe80::1%eth0', '1::2::3', ':::', '[::1]']) expect(ipBytes(bad)).toBeNull();
  });
});

describe('buildCertificate', () => {
  it('writes a self-signed CA node can parse, whose subject can be read back byte for byte', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = distinguishedName('gpufleet CA test');
    const der = buildCertificate({ kind: 'ca', issuer: name, subject: name, notBefore: Date.UTC(2026, 0, 1), notAfter: Date.UTC(2027, 0, 1), publicKey, signingKey: privateKey, issuerPublicKey: publicKey });
    const cert = new X509Certificate(der);
    expect(cert.subject).toBe('O=gpufleet\nCN=gpufleet CA test');
    expect(cert.ca).toBe(true);
    expect(cert.verify(publicKey)).toBe(true);
    expect(Date.parse(cert.validFrom)).toBe(Date.UTC(2026, 0, 1));
    expect(Date.parse(cert.validTo)).toBe(Date.UTC(2027, 0, 1));
    expect(subjectOf(der).equals(name)).toBe(true);
    expect(() => subjectOf(Buffer.from([0x30, 0x00]))).toThrow(RangeError);
  });

  it('refuses a non-IP address in the SAN list', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = distinguishedName('x');
    expect(() =>
      buildCertificate({ kind: 'server', issuer: name, subject: name, notBefore: 0, notAfter: 1000, publicKey, signingKey: privateKey, issuerPublicKey: publicKey, ipAddresses: ['nope'] }),
    ).toThrow(/not an IP address/);
  });
});
