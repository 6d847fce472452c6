import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, InventoryBody } from '@gpufleet/protocol';
import { FileStateStore, OUTBOX_FILE, parseOutboxLog } from './file-state.js';
import { createJsonLogger } from './logger.js';
import { Outbox } from './outbox.js';
import { MemoryStateStore } from './state.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-outbox-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function event(n: number, message = `event ${n}`): { t: 'event'; body: AgentEvent } {
  return { t: 'event', body: { id: `e${n}`, ts: 1_700_000_000_000 + n, kind: 'kernel-log', gpuUuid: null, pciBusId: null, message, data: { n } } };
}

function inventory(): { t: 'inventory'; body: InventoryBody } {
  return {
    t: 'inventory',
    body: {
      host: {
        hostname: 'h1',
        os: { id: 'debian', name: 'Debian', version: '12' },
        kernel: '6.1.0',
        arch: 'x86_64',
        cpu: { model: 'x', cores: 1, threads: 2 },
        memoryTotalBytes: 1,
        disks: [],
        network: [],
        containerRuntime: null,
        agentVersion: '0.1.0',
        bootTime: null,
      },
      gpus: [],
      toolFailures: [],
    },
  };
}

describe('Outbox with the file store', () => {
  it('keeps pending items across a restart, in seq order', () => {
    const first = new Outbox(new FileStateStore(dir));
    first.append(event(1));
    first.append(inventory());
    first.append(event(3));
    const again = new Outbox(new FileStateStore(dir));
    expect(again.pending().map((i) => [i.seq, i.t])).toEqual([
      [1, 'event'],
      [2, 'inventory'],
      [3, 'event'],
    ]);
    expect(again.pending()[0]!.body).toEqual(event(1).body);
  });

  it('keeps seqs monotonic after a restart, also when everything was acknowledged', () => {
    const first = new Outbox(new FileStateStore(dir));
    for (let i = 1; i <= 4; i++) first.append(event(i));
    first.ack(4);
    expect(first.size).toBe(0);
    const again = new Outbox(new FileStateStore(dir));
    expect(again.lastSeq).toBe(4);
    expect(again.append(event(5))!.seq).toBe(5);
  });

  it('drops acknowledged items for good (cumulative ack) and compacts the file once nothing is pending', () => {
    const store = new FileStateStore(dir);
    const box = new Outbox(store);
    for (let i = 1; i <= 5; i++) box.append(event(i));
    expect(box.ack(3)).toBe(3);
    expect(box.pending().map((i) => i.seq)).toEqual([4, 5]);
    // Restart: the ack record in the log keeps 1-3 gone.
    expect(new Outbox(new FileStateStore(dir)).pending().map((i) => i.seq)).toEqual([4, 5]);
    box.ack(5);
    const lines = readFileSync(join(dir, OUTBOX_FILE), 'utf8').trim().split('\n');
    expect(lines).toEqual([JSON.stringify({ head: { lastSeq: 5, ackedSeq: 5 } })]);
  });

  it('compacts after enough acks even while items are pending, via a temp file and rename', () => {
    const box = new Outbox(new FileStateStore(dir, { compactEvery: 2 }));
    for (let i = 1; i <= 6; i++) box.append(event(i));
    box.ack(1);
    box.ack(2); // second ack record: compaction
    const text = readFileSync(join(dir, OUTBOX_FILE), 'utf8');
    const seqs = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { item?: { seq: number } })
      .filter((r) => r.item)
      .map((r) => r.item!.seq);
    expect(seqs).toEqual([3, 4, 5, 6]);
    expect(text).not.toContain('"ack"');
    expect(statSync(join(dir, OUTBOX_FILE)).mode & 0o777).toBe(0o600);
  });

  it('skips a torn last line (power cut mid-write) and keeps the rest', () => {
    const box = new Outbox(new FileStateStore(dir));
    box.append(event(1));
    box.append(event(2));
    appendFileSync(join(dir, OUTBOX_FILE), '{"item":{"seq":3,"t":"ev');
    const store = new FileStateStore(dir);
    const again = new Outbox(store);
    expect(store.damagedLines).toBe(1);
    expect(again.pending().map((i) => i.seq)).toEqual([1, 2]);
    expect(again.append(event(3))!.seq).toBe(3);
    expect(new Outbox(new FileStateStore(dir)).pending().map((i) => i.seq)).toEqual([1, 2, 3]);
  });

  it('refuses garbage lines and items that do not match the wire schema', () => {
    const text = [
      'nonsense',
      '42',
      '{"item":{"seq":1,"t":"event","body":{"bad":true}}}',
      `{"item":{"seq":2,"t":"event","body":${JSON.stringify(event(2).body)}}}`,
      '{"ack":-1}',
    ].join('\n');
    const parsed = parseOutboxLog(text);
    expect(parsed.items.map((i) => i.seq)).toEqual([2]);
    expect(parsed.damagedLines).toBe(4);
  });
});

describe('Outbox bounds', () => {
  it('refuses non-critical items first when full, keeping room for critical ones, and logs once', () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ write: (l) => lines.push(l) });
    const box = new Outbox(new MemoryStateStore(), { limits: { maxItems: 10 }, logger });
    for (let i = 1; i <= 9; i++) expect(box.append(event(i), false)).not.toBeNull();
    // 9 of 10 is the non-critical share: inventories are refused now...
    expect(box.append(inventory())).toBeNull();
    expect(box.append(inventory())).toBeNull();
    // ...but a health event still fits, until the hard limit.
    expect(box.append(event(10))!.seq).toBe(10);
    expect(box.append(event(11))).toBeNull();
    expect(box.refused).toBe(3);
    expect(lines.filter((l) => l.includes('outbox is full'))).toHaveLength(1);
    // Refused items took no seq: the server sees no gap.
    box.ack(10);
    expect(box.append(event(12))!.seq).toBe(11);
  });

  it('bounds by bytes as well', () => {
    const box = new Outbox(new MemoryStateStore(), { limits: { maxBytes: 2000 } });
    let accepted = 0;
    for (let i = 0; i < 50; i++) if (box.append(event(i, 'x'.repeat(100)))) accepted++;
    expect(accepted).toBeGreaterThan(3);
    expect(accepted).toBeLessThan(50);
    expect(box.bytes).toBeLessThanOrEqual(2000);
  });

  it('refuses an item larger than one frame', () => {
    const box = new Outbox(new MemoryStateStore());
    const huge = event(1, 'x'.repeat(8000));
    (huge.body.data as Record<string, unknown>).blob = 'y'.repeat(1024 * 1024);
    expect(box.append(huge)).toBeNull();
    expect(box.lastSeq).toBe(0);
  });
});

describe('Outbox.resync', () => {
  it('acts as an ack when the server is behind or level', () => {
    const box = new Outbox(new MemoryStateStore());
    for (let i = 1; i <= 3; i++) box.append(event(i));
    box.resync(2);
    expect(box.pending().map((i) => i.seq)).toEqual([3]);
  });

  it('renumbers pending items after the server when local state was lost', () => {
    const store = new MemoryStateStore();
    const box = new Outbox(store);
    box.append(event(1));
    box.append(event(2));
    box.resync(40);
    expect(box.pending().map((i) => i.seq)).toEqual([41, 42]);
    expect(box.lastSeq).toBe(42);
    expect(box.append(event(3))!.seq).toBe(43);
    expect(new Outbox(store).pending().map((i) => i.seq)).toEqual([41, 42, 43]);
  });

  it('ignores acks that are not integers or go backwards', () => {
    const box = new Outbox(new MemoryStateStore());
    box.append(event(1));
    box.append(event(2));
    expect(box.ack(Number.NaN)).toBe(0);
    expect(box.ack(1.5)).toBe(0);
    box.ack(1);
    expect(box.ack(0)).toBe(0);
    expect(box.pending().map((i) => i.seq)).toEqual([2]);
  });
});
