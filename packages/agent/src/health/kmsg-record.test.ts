import { describe, expect, it } from 'vitest';
import { readFixture } from '../testing/fixtures.js';
import { parseKmsgRecord } from './kmsg-record.js';

describe('parseKmsgRecord', () => {
  it('reads every record of the raw /dev/kmsg fixture', () => {
    const lines = readFixture('kernel', 'dev_kmsg_raw_format_gpud.log').split('\n').filter(Boolean);
    const records = lines.map(parseKmsgRecord);
    expect(records.every((r) => r !== null)).toBe(true);
    expect(records.map((r) => r!.seq)).toEqual(Array.from({ length: lines.length }, (_, i) => 3964 + i));
    expect(records[0]).toMatchObject({
      facility: 0,
      level: 6,
      seq: 3964,
      usec: 206764307,
      flags: '-',
      message: 'nvidia-nvswitch2: open (major=510)',
      dict: {},
    });
    expect(records.at(-1)!.usec).toBe(57631398464);
  });

  it('reads the facility, level, dictionary lines and escapes', () => {
    const r = parseKmsgRecord('14,7,100,c,caller=T1;a\\x0ab \\x5c done\n SUBSYSTEM=pci\n DEVICE=+pci:0000:01:00.0\n');
    expect(r).toMatchObject({
      facility: 1,
      level: 6,
      seq: 7,
      usec: 100,
      flags: 'c',
      message: 'a\nb \\ done',
      dict: { SUBSYSTEM: 'pci', DEVICE: '+pci:0000:01:00.0' },
    });
    expect(r!.raw).toBe('14,7,100,c,caller=T1;a\\x0ab \\x5c done');
  });

  it('refuses what is not a record', () => {
    for (const bad of ['', 'hello', '6,x,1,-;m', '6,1,2-;m', '[ 1.0] dmesg line', '6,99999999999999999999,1,-;m', null, 5]) {
      expect(parseKmsgRecord(bad as string)).toBeNull();
    }
  });
});
