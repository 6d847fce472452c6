import { appendFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../runtime/logger.js';
import { fakeSpawn } from './__tests__/fake-child.js';
import { FakeKmsg } from './__tests__/fake-kmsg.js';
import type { KernelEvent } from './kernel-line.js';
import { KernelLogWatcher, whichOnPath, type KernelLogWatcherOptions } from './kmsg-watcher.js';

const NOW = Date.UTC(2025, 2, 1, 12, 0, 0);
const UPTIME_MS = 1_000_000; // booted 1000 s before NOW
const XID = (code: number, pci = '0000:18:00') => `NVRM: Xid (PCI:${pci}): ${code}, pid=42, name=python3, text`;

const stops: (() => void)[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

function watch(extra: Partial<KernelLogWatcherOptions>) {
  const events: KernelEvent[] = [];
  const logs: Record<string, unknown>[] = [];
  const w = new KernelLogWatcher({
    clock: { now: () => NOW },
    uptimeMs: () => UPTIME_MS,
    lookBackMs: 60_000,
    pollMs: 1_000_000,
    logger: createJsonLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) }),
    onEvent: (e) => events.push(e),
    ...extra,
  });
  stops.push(() => w.stop());
  return { w, events, logs };
}

async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('KernelLogWatcher source selection', () => {
  it('reads /dev/kmsg when it can: replays the look-back only, dates records from boot time', () => {
    const kmsg = new FakeKmsg();
    // 900 s after boot: 100 s before now, outside the 60 s look-back. 980 s: inside.
    kmsg.add(`3,1,900000000,-;${XID(13)}`, `3,2,980000000,-;${XID(31)}`, '6,3,981000000,-;not a gpu line');
    const { w, events } = watch({ kmsgFs: kmsg });
    w.start();
    expect(w.source).toBe('kmsg');
    expect(w.state).toBe('running');
    expect(events.map((e) => e.code)).toEqual([31]);
    expect(events[0]!.timestamp).toBe(NOW - UPTIME_MS + 980_000);
    expect(w.stats.skippedOld).toBe(1);
    // A new record, even one whose clock is old, is not look-back: it is delivered.
    kmsg.add(`3,4,990000000,-;${XID(79)}`);
    (w as unknown as { kmsg: { poll(): void } }).kmsg.poll();
    expect(events.map((e) => e.code)).toEqual([31, 79]);
    w.stop();
    expect(w.state).toBe('stopped');
  });

  it('falls back to journalctl -k -f when /dev/kmsg is not readable', async () => {
    const kmsg = new FakeKmsg();
    kmsg.refuseOpen = 'EACCES';
    const { spawn, children } = fakeSpawn();
    const { w, events } = watch({ kmsgFs: kmsg, spawn, which: (c) => (c === 'journalctl' ? '/usr/bin/journalctl' : null), restartDelayMs: 5 });
    w.start();
    expect(w.source).toBe('journalctl');
    expect(children).toHaveLength(1);
    expect(children[0]!.command).toBe('/usr/bin/journalctl');
    expect(children[0]!.args).toEqual(['-k', '-f', '-o', 'short-iso', '--no-pager', '--since=-60s']);
    children[0]!.print(`2025-03-01T11:59:30+0000 gpu-7 kernel: ${XID(48)}\n2025-03-01T11:59:31+0000 gpu-7 kernel: unrelated\n2025-03-01T11:59:3`);
    children[0]!.print(`2+0000 gpu-7 kernel: ${XID(79)}\n`);
    await tick();
    expect(events.map((e) => [e.code, e.timestamp])).toEqual([
      [48, Date.UTC(2025, 2, 1, 11, 59, 30)],
      [79, Date.UTC(2025, 2, 1, 11, 59, 32)],
    ]);
    // It died after working: restarted without the look-back, so nothing is replayed.
    children[0]!.exit(1);
    await waitFor('a restart', () => children.length === 2);
    expect(children[1]!.args).toEqual(['-k', '-f', '-o', 'short-iso', '--no-pager', '-n', '0']);
    w.stop();
    expect(children[1]!.killed).toBe('SIGTERM');
  });

  it('uses -n 0 when there is no look-back', () => {
    const kmsg = new FakeKmsg();
    kmsg.refuseOpen = 'EACCES';
    const { spawn, children } = fakeSpawn();
    const { w } = watch({ kmsgFs: kmsg, spawn, which: () => '/bin/journalctl', lookBackMs: 0 });
    w.start();
    expect(children[0]!.args).toEqual(['-k', '-f', '-o', 'short-iso', '--no-pager', '-n', '0']);
  });

  it('falls back to dmesg -w when journalctl gives nothing, and skips dmesg lines seen before', async () => {
    const kmsg = new FakeKmsg();
    kmsg.refuseOpen = 'ENOENT';
    const { spawn, children } = fakeSpawn();
    const { w, events } = watch({ kmsgFs: kmsg, spawn, which: (c) => `/usr/bin/${c}`, restartDelayMs: 5 });
    w.start();
    expect(w.source).toBe('journalctl');
    children[0]!.exit(1); // "No journal files were found." and nothing on stdout
    expect(w.source).toBe('dmesg');
    expect(children[1]!.command).toBe('/usr/bin/dmesg');
    expect(children[1]!.args).toEqual(['-w']);
    // dmesg -w prints the whole ring first: only the look-back (after 940 s of uptime) counts.
    children[1]!.print(`[  900.000000] ${XID(13)}\n[  950.500000] ${XID(31)}\n`);
    await tick();
    expect(events.map((e) => e.code)).toEqual([31]);
    expect(events[0]!.timestamp).toBe(NOW - UPTIME_MS + 950_500);
    // A restarted dmesg prints the ring again: what was seen is not delivered twice.
    children[1]!.exit(0);
    await waitFor('a restart', () => children.length === 3);
    children[2]!.print(`[  900.000000] ${XID(13)}\n[  950.500000] ${XID(31)}\n[  999.000000] ${XID(74)}\n`);
    await tick();
    expect(events.map((e) => e.code)).toEqual([31, 74]);
  });

  it('says so when no source is readable, and stays harmless', () => {
    const kmsg = new FakeKmsg();
    kmsg.refuseOpen = 'EACCES';
    const { w, logs } = watch({ kmsgFs: kmsg, which: () => null });
    w.start();
    expect(w.source).toBe('none');
    expect(logs.some((l) => l.level === 'warn' && String(l.msg).includes('XID watching is off'))).toBe(true);
    w.stop();
  });

  it('falls through every source when each command fails to start', () => {
    const kmsg = new FakeKmsg();
    kmsg.refuseOpen = 'EACCES';
    const { w } = watch({
      kmsgFs: kmsg,
      which: (c) => `/bin/${c}`,
      spawn: () => {
        throw new Error('spawn EACCES');
      },
    });
    w.start();
    expect(w.source).toBe('none');
  });

  it('finds commands on PATH', () => {
    expect(whichOnPath('sh')).toMatch(/\/sh$/);
    expect(whichOnPath('no-such-command-gpufleet', '/nonexistent')).toBeNull();
  });
});

describe('KernelLogWatcher on a file', () => {
  let dir: string;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  function fileWatch(path: string, lookBackMs = 60_000) {
    const events: KernelEvent[] = [];
    const w = new KernelLogWatcher({ source: { file: path }, pollMs: 10, lookBackMs, clock: { now: () => NOW }, onEvent: (e) => events.push(e) });
    stops.push(() => w.stop());
    return { w, events };
  }

  it('delivers events for appended lines, in order, and nothing for other lines', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-kwatch-'));
    const path = join(dir, 'kern.log');
    writeFileSync(path, `[ 1.0] ${XID(13)}\n`);
    const { w, events } = fileWatch(path);
    w.start();
    expect(w.source).toBe('file');
    appendFileSync(path, `[ 2.0] ${XID(79)}\n[ 2.1] eth0: link up\n[ 2.2] nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up\n`);
    await waitFor('two events', () => events.length >= 2);
    expect(events.map((e) => [e.kind, e.code])).toEqual([
      ['xid', 79],
      ['sxid', 20034],
    ]);
    // Relative times in a file are not placed on the wall clock: it may come from another boot.
    expect(events[0]!.timestamp).toBeNull();
  });

  it('replays only backlog lines whose absolute time is within the look-back', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-kwatch-'));
    const path = join(dir, 'kern.log');
    writeFileSync(
      path,
      [
        `2025-03-01T11:50:00+00:00 h kernel: ${XID(13)}`, // 10 min before NOW: too old
        `2025-03-01T11:59:30+00:00 h kernel: ${XID(31)}`, // within the minute
        `[ 5.0] ${XID(45)}`, // no absolute time: cannot tell its age
        '',
      ].join('\n'),
    );
    const { w, events } = fileWatch(path);
    w.start();
    expect(events.map((e) => e.code)).toEqual([31]);
  });

  it('joins the multi-line fallen-off-bus message and follows truncation', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-kwatch-'));
    const path = join(dir, 'kern.log');
    writeFileSync(path, '');
    const { w, events } = fileWatch(path);
    w.start();
    appendFileSync(
      path,
      '[ 1843.308145] NVRM: The NVIDIA GPU 0000:b3:00.0\n               NVRM: (PCI ID: 10de:26b5) installed in this system has\n               NVRM: fallen off the bus and is not responding to commands.\n',
    );
    await waitFor('the fallen-off-bus event', () => events.length === 1);
    expect(events[0]).toMatchObject({ kind: 'fallen-off-bus', code: 79, pciBusId: '0000:b3:00.0' });
    truncateSync(path, 0);
    appendFileSync(path, `${XID(64)}\n`);
    await waitFor('the event after truncation', () => events.length === 2);
    expect(events[1]!.code).toBe(64);
  });

  it('waits for a file the simulator has not written yet', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-kwatch-'));
    const path = join(dir, 'later.log');
    const { w, events } = fileWatch(path);
    w.start();
    await new Promise((r) => setTimeout(r, 30));
    writeFileSync(path, `${XID(119)}\n`);
    await waitFor('the event', () => events.length === 1);
    expect(events[0]!.code).toBe(119);
  });

  it('keeps going when the event handler throws', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-kwatch-'));
    const path = join(dir, 'kern.log');
    writeFileSync(path, '');
    const seen: number[] = [];
    const w = new KernelLogWatcher({
      source: { file: path },
      pollMs: 10,
      onEvent: (e) => {
        if (e.code === 13) throw new Error('handler bug');
        seen.push(e.code!);
      },
    });
    stops.push(() => w.stop());
    w.start();
    appendFileSync(path, `${XID(13)}\n${XID(31)}\n`);
    await waitFor('the second event', () => seen.length === 1);
    expect(seen).toEqual([31]);
  });
});
