import { describe, expect, it } from 'vitest';
import { ipBytes } from './ip-bytes.js';

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
