import { describe, expect, it } from 'vitest';
import { listFixtures, readFixture } from '../testing/fixtures.js';
import { parseKernelLine, type KernelEvent } from './kernel-line.js';
import { KernelLineJoiner } from './line-joiner.js';

interface XidRecord {
  xid: number | null;
  line: string;
  source: string;
  note: string;
}

const records: XidRecord[] = readFixture('kernel', 'nvrm-xid-lines.jsonl')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as XidRecord);

/** Every GPU event of a log file, the way a line-oriented watcher reads it. */
function eventsOf(text: string): KernelEvent[] {
  const joiner = new KernelLineJoiner();
  const out: KernelEvent[] = [];
  const take = (l: string) => {
    const e = parseKernelLine(l);
    if (e) out.push(e);
  };
  for (const line of text.split(/\r?\n/)) joiner.push(line).forEach(take);
  joiner.flush().forEach(take);
  return out;
}

describe('parseKernelLine on nvrm-xid-lines.jsonl', () => {
  it('has the 28 recorded lines', () => {
    expect(records).toHaveLength(28);
  });

  it.each(records.filter((r) => r.xid !== null).map((r) => [r.xid, r.line] as const))('Xid %i: %s', (xid, line) => {
    const e = parseKernelLine(line)!;
    expect(e).not.toBeNull();
    expect(e.kind).toBe('xid');
    expect(e.code).toBe(xid);
    expect(e.pciBusId).toMatch(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.0$/);
    expect(e.line).toBe(line);
    // The message is what follows the code, without the pid/name fields.
    expect(e.message).not.toMatch(/^(pid|name)=/);
    expect(line.endsWith(e.message)).toBe(true);
  });

  it('reads the lines without an Xid number as their notes say', () => {
    const nullXid = records.filter((r) => r.xid === null);
    expect(nullXid).toHaveLength(7);
    const got = nullXid.map((r) => {
      const e = parseKernelLine(r.line);
      return e && { kind: e.kind, code: e.code, pci: e.pciBusId };
    });
    expect(got).toEqual([
      // "multi-line fallen-off-bus without Xid (treat as Xid 79)"
      { kind: 'fallen-off-bus', code: 79, pci: '0000:b3:00.0' },
      // "NVSwitch SXid"
      { kind: 'sxid', code: 20034, pci: '0000:06:00.0' },
      { kind: 'sxid', code: 20034, pci: '0000:07:00.0' },
      { kind: 'sxid', code: 12028, pci: '0000:84:00.0' },
      // "non-Xid NVRM line worth matching"
      { kind: 'driver', code: null, pci: '0000:9b:00.0' },
      // probe routine not called / failed
      { kind: 'driver', code: null, pci: null },
      { kind: 'driver', code: null, pci: null },
    ]);
  });

  it('reads pid and process name, and null for <unknown>', () => {
    const byText = (s: string) => parseKernelLine(records.find((r) => r.line.includes(s))!.line)!;
    expect(byText('pt_main_thread, Ch 00000008, errorString')).toMatchObject({
      code: 109,
      pid: 1797828,
      process: 'pt_main_thread',
      message: 'Ch 00000008, errorString CTX SWITCH TIMEOUT, Info 0x58005',
    });
    expect(byText('Illegal Instruction Parameter')).toMatchObject({
      pid: null,
      process: null,
      message: 'Graphics SM Warp Exception on (GPC 7, TPC 7, SM 0): Illegal Instruction Parameter',
    });
    // Xid 94/95: pid without name.
    expect(byText('Contained: CE User Channel')).toMatchObject({
      code: 94,
      pid: 7062,
      process: null,
      message: 'Contained: CE User Channel (0x9). RST: No, D-RST: No',
    });
    // Old drivers: neither.
    expect(byText('GPCCLIENT_T1_3')).toMatchObject({
      code: 31,
      pid: null,
      process: null,
      message: expect.stringMatching(/^Ch 0000003a, intr 10000000\. MMU Fault/),
    });
  });

  it('reads "caused by previous Xid N"', () => {
    const e = parseKernelLine(records.find((r) => r.line.includes('caused by previous'))!.line)!;
    expect(e).toMatchObject({ code: 45, causedBy: 145, pid: 1818992, process: 'python3', pciBusId: '0000:ed:00.0' });
    expect(parseKernelLine(records[0]!.line)!.causedBy).toBeNull();
  });

  it('reads the NVLink5 forms (144-150) with a non-zero PCI domain', () => {
    const nvlink = records.filter((r) => r.xid !== null && r.xid >= 144 && r.xid <= 150).map((r) => parseKernelLine(r.line)!);
    expect(nvlink.map((e) => [e.code, e.pciBusId])).toEqual([
      [149, '0000:00:00.0'],
      [145, '0018:01:00.0'],
      [144, '0000:01:00.0'],
    ]);
    expect(nvlink[1]!.message).toMatch(/^RLW_RXPIPE Nonfatal XC0 i0 Link 13 /);
  });

  it('reads the absolute and boot-relative times of every prefix style in the file', () => {
    const at = (s: string) => parseKernelLine(records.find((r) => r.line.includes(s))!.line)!;
    // dmesg --ctime: local time
    expect(at('Illegal Instruction Parameter').timestamp).toBe(new Date(2024, 7, 30, 11, 43, 9).getTime());
    // dmesg --time-format=iso with --decode: zone given
    expect(at('2025-01-21T04:41:44,287197').timestamp).toBe(Date.UTC(2025, 0, 21, 4, 41, 44, 287));
    // plain dmesg: kernel clock, no absolute time
    expect(at('cuda_plot_k32_v')).toMatchObject({ timestamp: null, bootOffsetMs: 14328198 });
    expect(at('GPU has fallen off the bus.\u0022'.slice(0, -1)).bootOffsetMs).not.toBeNull();
    // no prefix at all
    expect(at('name=chrome')).toMatchObject({ timestamp: null, bootOffsetMs: null });
  });
});

describe('parseKernelLine on the other kernel fixture files', () => {
  // Counts read from the files: which lines are GPU events and which are not.
  const expected: Record<string, { kinds: string[]; nulls: number }> = {
    // seven nvidia-peermem ERROR records; the last record ("test") is not an event
    'dev_kmsg_nvidia_peermem_gpud.log': { kinds: Array(7).fill('driver:null'), nulls: 1 },
    // nvswitch "open (major=510)", IPv6, wireguard, perf: none is a GPU event
    'dev_kmsg_raw_format_gpud.log': { kinds: [], nulls: 47 },
    // 16 Xid 13 lines then one Xid 43, then 7 OOM lines
    'kmsg_dmesg_decode_iso_xid13_gpud.log': { kinds: [...Array(16).fill('xid:13'), 'xid:43'], nulls: 7 },
    // Xid 119 x3, the GSP rate-limit notice, Xid 119 x2; RPC history, identity lines and the stack trace are not events
    'kmsg_nvrm_xid119_gsp_timeout_gpud.log': { kinds: ['xid:119', 'xid:119', 'xid:119', 'driver:null', 'xid:119', 'xid:119'], nulls: 38 },
    // the fabric manager's one NVSwitch error at the end
    'nv-fabricmanager_log_gpud.log': { kinds: ['sxid:12028'], nulls: 101 },
  };

  it('covers every .log fixture', () => {
    expect(listFixtures('kernel', /\.log$/)).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s', (file, want) => {
    const text = readFixture('kernel', file);
    const events = eventsOf(text);
    expect(events.map((e) => `${e.kind}:${e.code}`)).toEqual(want.kinds);
    const lines = text.split(/\r?\n/);
    expect(lines.filter((l) => parseKernelLine(l) === null)).toHaveLength(want.nulls);
  });

  it('reads raw /dev/kmsg records: kernel clock from usec, message after the semicolon', () => {
    const [first] = eventsOf(readFixture('kernel', 'dev_kmsg_nvidia_peermem_gpud.log'));
    expect(first).toMatchObject({ kind: 'driver', bootOffsetMs: 227996, timestamp: null, pciBusId: null });
    expect(first!.message).toBe('nvidia-peermem nv_get_p2p_free_callback:127 ERROR detected invalid context, skipping further processing');
  });

  it('reads the Xid 119 run of dmesg -T with local times and processes', () => {
    const xids = eventsOf(readFixture('kernel', 'kmsg_nvrm_xid119_gsp_timeout_gpud.log')).filter((e) => e.kind === 'xid');
    expect(xids.map((e) => e.process)).toEqual(['nvidia-smi', 'nvidia-smi', 'nvidia-smi', 'cache_mgr_main', 'gpud']);
    expect(xids[4]!.timestamp).toBe(new Date(2025, 1, 23, 16, 30, 13).getTime());
    expect(new Set(xids.map((e) => e.pciBusId))).toEqual(new Set(['0000:9b:00.0']));
  });

  it('reads the fabric manager NVSwitch error with its address and local time', () => {
    const [e] = eventsOf(readFixture('kernel', 'nv-fabricmanager_log_gpud.log'));
    expect(e).toMatchObject({ kind: 'sxid', code: 12028, pciBusId: '0000:86:00.0', timestamp: new Date(2025, 1, 27, 15, 10, 2).getTime() });
    expect(e!.message).toMatch(/^non-fatal error on fid 0 /);
  });
});

describe('parseKernelLine on other forms', () => {
  const XID = 'NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=python3, GPU has fallen off the bus.';

  it.each([
    ['syslog', `Aug 30 11:43:09 gpu-node-7 kernel: ${XID}`],
    ['syslog with the kernel clock', `Aug 30 11:43:09 gpu-node-7 kernel: [ 1234.567890] ${XID}`],
    ['journalctl short-iso', `2024-08-30T11:43:09+0000 gpu-node-7 kernel: ${XID}`],
    ['journalctl short-iso (newer)', `2024-08-30T11:43:09+00:00 gpu-node-7 kernel: ${XID}`],
    ['journalctl short-iso-precise', `2024-08-30T11:43:09.123456+00:00 gpu-node-7 kernel: ${XID}`],
    ['journalctl short-full', `Fri 2024-08-30 11:43:09 UTC gpu-node-7 kernel: ${XID}`],
    ['journalctl short-unix', `1725018189.123456 gpu-node-7 kernel: ${XID}`],
    ['dmesg --time-format=iso', `2024-08-30T11:43:09,123456+00:00 ${XID}`],
    ['dmesg --decode', `kern  :err   : [ 1234.567890] ${XID}`],
    ['raw kmsg', `3,1201,1234567890,-;${XID}`],
    ['raw kmsg with caller id', `3,1201,1234567890,-,caller=T412;${XID}`],
  ])('%s', (_style, line) => {
    expect(parseKernelLine(line, { now: Date.UTC(2024, 8, 1) })).toMatchObject({
      kind: 'xid',
      code: 79,
      pciBusId: '0000:3b:00.0',
      pid: 1,
      process: 'python3',
      message: 'GPU has fallen off the bus.',
    });
  });

  it("reads each style's time", () => {
    const now = Date.UTC(2024, 8, 1);
    const t = (line: string) => parseKernelLine(line, { now })!;
    expect(t(`2024-08-30T11:43:09+0000 h kernel: ${XID}`).timestamp).toBe(Date.UTC(2024, 7, 30, 11, 43, 9));
    expect(t(`2024-08-30T11:43:09.123456-05:30 h kernel: ${XID}`).timestamp).toBe(Date.UTC(2024, 7, 30, 17, 13, 9, 123));
    expect(t(`Fri 2024-08-30 11:43:09 UTC h kernel: ${XID}`).timestamp).toBe(Date.UTC(2024, 7, 30, 11, 43, 9));
    expect(t(`1725018189.123456 h kernel: ${XID}`).timestamp).toBe(1725018189123);
    expect(t(`Aug 30 11:43:09 h kernel: [ 5.25] ${XID}`)).toMatchObject({ timestamp: new Date(2024, 7, 30, 11, 43, 9).getTime(), bootOffsetMs: 5250 });
    expect(t(`3,1201,1234567890,-;${XID}`)).toMatchObject({ timestamp: null, bootOffsetMs: 1234567 });
  });

  it('puts a syslog time without a year in the year that is not in the future', () => {
    const line = `Dec 31 23:59:00 h kernel: ${XID}`;
    expect(parseKernelLine(line, { now: new Date(2025, 0, 1, 0, 5).getTime() })!.timestamp).toBe(new Date(2024, 11, 31, 23, 59).getTime());
    expect(parseKernelLine(line, { now: new Date(2024, 11, 31, 23, 59, 30).getTime() })!.timestamp).toBe(new Date(2024, 11, 31, 23, 59).getTime());
  });

  it('reads MIG attribution: GPU-I and GPU-CI', () => {
    expect(parseKernelLine('NVRM: Xid (PCI:0000:01:00 GPU-I:05): 94, pid=7194, Contained: CE User Channel (0x9). RST: No, D-RST: No')).toMatchObject({
      code: 94,
      pciBusId: '0000:01:00.0',
      gpuInstance: '5',
      computeInstance: null,
      pid: 7194,
    });
    expect(parseKernelLine('NVRM: Xid (PCI:0000:3b:00 GPU-I:01 GPU-CI:02): 13, pid=9, name=a, Graphics Exception')).toMatchObject({
      code: 13,
      gpuInstance: '1',
      computeInstance: '2',
      process: 'a',
      message: 'Graphics Exception',
    });
  });

  it('reads old drivers without `PCI:` and lines that end after the code', () => {
    expect(parseKernelLine('[...] NVRM: Xid (0000:03:00): 14, Channel 00000001')).toMatchObject({
      code: 14,
      pciBusId: '0000:03:00.0',
      message: 'Channel 00000001',
    });
    expect(parseKernelLine('NVRM: Xid (PCI:0000:03:00): 48')).toMatchObject({ code: 48, message: '' });
  });

  it('reads the one-line fallen-off-bus forms without an Xid number', () => {
    expect(parseKernelLine('[ 88.1] NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.')).toMatchObject({
      kind: 'fallen-off-bus',
      code: 79,
      pciBusId: '0000:3b:00.0',
      message: 'GPU 0000:3b:00.0: GPU has fallen off the bus.',
    });
    expect(
      parseKernelLine(
        'NVRM: The NVIDIA GPU 0000:b3:00.0 (PCI ID: 10de:26b5) installed in this system has fallen off the bus and is not responding to commands.',
      ),
    ).toMatchObject({ kind: 'fallen-off-bus', code: 79, pciBusId: '0000:b3:00.0' });
    // kmsg writes the multi-line form as one record with escaped newlines.
    const raw =
      '3,900,1843308145,-;NVRM: The NVIDIA GPU 0000:b3:00.0\\x0a               NVRM: (PCI ID: 10de:26b5) installed in this system has\\x0a               NVRM: fallen off the bus and is not responding to commands.';
    expect(parseKernelLine(raw)).toMatchObject({
      kind: 'fallen-off-bus',
      code: 79,
      pciBusId: '0000:b3:00.0',
      message: 'The NVIDIA GPU 0000:b3:00.0 (PCI ID: 10de:26b5) installed in this system has fallen off the bus and is not responding to commands.',
    });
  });

  it('reads driver failures: RmInitAdapter, probe, API mismatch', () => {
    expect(parseKernelLine('[   14.5] NVRM: GPU 0000:3b:00.0: RmInitAdapter failed! (0x26:0xffff:1547)')).toMatchObject({
      kind: 'driver',
      code: null,
      pciBusId: '0000:3b:00.0',
      message: 'GPU 0000:3b:00.0: RmInitAdapter failed! (0x26:0xffff:1547)',
    });
    expect(parseKernelLine('NVRM: RmInitAdapter failed! (0x25:0x65:1457)')).toMatchObject({ kind: 'driver', pciBusId: null });
    expect(parseKernelLine('[   14.6] NVRM: GPU 0000:3b:00.0: rm_init_adapter failed, device minor number 0')).toMatchObject({
      kind: 'driver',
      pciBusId: '0000:3b:00.0',
    });
    expect(parseKernelLine('nvidia: probe of 0000:41:00.0 failed with error -1')).toMatchObject({ kind: 'driver', pciBusId: '0000:41:00.0' });
    expect(parseKernelLine('NVRM: API mismatch: the client has the version 550.54.15, but this kernel module has the version 550.90.07.')).toMatchObject({
      kind: 'driver',
    });
  });

  it('returns null for lines that are not GPU events', () => {
    for (const line of [
      '',
      '   ',
      '[Sun Feb 23 16:24:18 2025] NVRM: GPU at PCI:0000:9b:00: GPU-509665ad-b600-ac93-3616-d754b23d636d',
      '[Sun Feb 23 16:24:18 2025] NVRM: GPU Board Serial Number: 1650124014249',
      '[ 5.0] nvidia-nvswitch0: open (major=510)',
      'NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.90.07',
      'NVRM: The NVIDIA GPU 0000:b3:00.0',
      'Xid 79 mentioned in a chat message',
      'Out of memory: Killed process 123, UID 48, (httpd)',
    ]) {
      expect(parseKernelLine(line), line).toBeNull();
    }
  });

  it('never throws on garbage', () => {
    const garbage = [
      '\u0000\u0001\u00ff',
      'NVRM: Xid (',
      'NVRM: Xid (PCI:zz:zz:zz): 13, x',
      'SXid (PCI:',
      '6,1,2,-;',
      '\\x0',
      'NVRM: Xid (PCI:0000:01:00): 999999999999, x',
      `${'x'.repeat(200_000)} NVRM: Xid (PCI:0000:01:00): 13, y`,
    ];
    for (const g of garbage) expect(() => parseKernelLine(g)).not.toThrow();
    expect(parseKernelLine(undefined as unknown as string)).toBeNull();
    expect(parseKernelLine(42 as unknown as string)).toBeNull();
    // A garbled address is read like a redacted one: still an Xid, on no known GPU.
    expect(parseKernelLine('NVRM: Xid (PCI:zz:zz:zz): 13, x')).toMatchObject({ kind: 'xid', code: 13, pciBusId: null });
    // A very long line is still read.
    expect(parseKernelLine(garbage[7]!)).toMatchObject({ code: 13 });
  });
});

describe('parseKernelLine on redacted lines', () => {
  it('reads every real Xid line of the fixtures with its address redacted as an Xid on an unknown PCI address', () => {
    const xidForm = records.filter((r) => r.line.includes('NVRM: Xid ('));
    expect(xidForm.length).toBeGreaterThan(10);
    for (const r of xidForm) {
      const redacted = r.line.replace(/\(PCI:[^)]*\)/, '(PCI:...)');
      expect(redacted, r.line).not.toBe(r.line);
      const e = parseKernelLine(redacted);
      expect(e, redacted).toMatchObject({ kind: 'xid', code: r.xid, pciBusId: null });
      // Everything after the address is read as before.
      const plain = parseKernelLine(r.line)!;
      expect(e!.message).toBe(plain.message);
      expect([e!.pid, e!.process, e!.causedBy]).toEqual([plain.pid, plain.process, plain.causedBy]);
    }
  });

  it.each([
    ['NVRM: Xid (PCI:...): 137, pid=1234, name=python, NVLink: fatal error', 137],
    ["[  123.456] NVRM: Xid (PCI:<redacted>): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.", 79],
    ['kernel: NVRM: Xid (PCI:xxxx:xx:xx): 48, An uncorrectable double bit error', 48],
    ['NVRM: Xid (): 31, pid=7, name=a.out, Ch 00000008, intr 00000000. MMU Fault', 31],
    ['NVRM: Xid (REDACTED GPU-I:03): 94, pid=7, Contained ECC error', 94],
  ])('%s', (line, code) => {
    const e = parseKernelLine(line);
    expect(e).toMatchObject({ kind: 'xid', code, pciBusId: null });
  });

  it('keeps MIG instance ids beside a redacted address, and reads a real address that follows the bracket', () => {
    expect(parseKernelLine('NVRM: Xid (PCI:... GPU-I:05 GPU-CI:02): 94, pid=1, Contained')).toMatchObject({
      pciBusId: null,
      gpuInstance: '5',
      computeInstance: '2',
    });
    expect(parseKernelLine('NVRM: Xid (PCI:0000:3b:00 GPU-I:05): 94, pid=1, Contained')).toMatchObject({ pciBusId: '0000:3b:00.0', gpuInstance: '5' });
    // An address with junk glued on is not an address.
    expect(parseKernelLine('NVRM: Xid (PCI:0000:3b:00zz): 94, x')).toMatchObject({ kind: 'xid', pciBusId: null });
  });
});
