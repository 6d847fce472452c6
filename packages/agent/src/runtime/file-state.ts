import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EventFrame, FleetError, InventoryFrame, serverUrlListProblem } from '@gpufleet/protocol';
import { parseStoredAllocation, type StoredAllocation } from '../workloads/stored-allocation.js';
import { isTrustRecord, type AgentStateStore, type NodeConfig, type OutboxItem, type OutboxSnapshot, type TrustRecord } from './state.js';

export const NODE_CONFIG_FILE = 'node.json';
export const CA_FILE = 'ca.pem';
export const OUTBOX_FILE = 'outbox.jsonl';
/** Remote-operations trust log: roots, revocations, run ids and nonces, run outcomes (JSON lines). */
export const TRUST_FILE = 'trust.jsonl';
/** Workload allocations this host accepted, with their signed placements (one JSON document). */
export const ALLOCATIONS_FILE = 'allocations.json';

export interface FileStateStoreOptions {
  /** Compact the outbox file after this many ack records even while items are pending. Default 256. */
  compactEvery?: number;
}

/**
 * The agent's state in its data dir: `node.json` (node config), `ca.pem` (the pinned CA) and
 * `outbox.jsonl`, an append-only log of JSON lines:
 *   {"head":{"lastSeq":n,"ackedSeq":n}}   first line after a compaction
 *   {"item":{"seq":n,"t":"event","body":{...}}}
 *   {"ack":n}                             cumulative acknowledgement
 * The log is rewritten (temp file, fsync, rename) once nothing is pending or enough acks piled up.
 * A torn last line after a power cut is skipped on load, and counted in `damagedLines`.
 * `trust.jsonl` is the remote-operations trust log (TrustRecord lines, see state.ts); the
 * TrustStore decides when to compact it. `allocations.json` holds the workload allocations this
 * host accepted (`{"version":1,"allocations":[...]}`), rewritten whole on each change: a host runs
 * a handful of them.
 */
export class FileStateStore implements AgentStateStore {
  private readonly compactEvery: number;
  private lastSeq = 0;
  private ackedSeq = 0;
  /** Records in the file beyond the head and the pending items: what a compaction would remove. */
  private deadRecords = 0;
  private ackRecordsSinceCompaction = 0;
  /** Unparsable lines seen by the last load. */
  damagedLines = 0;
  /** Unparsable lines seen by the last loadTrust. */
  damagedTrustLines = 0;
  /** Allocation records the last loadAllocations dropped as damaged. */
  damagedAllocations = 0;

  constructor(
    readonly dataDir: string,
    options: FileStateStoreOptions = {},
  ) {
    this.compactEvery = Math.max(1, options.compactEvery ?? 256);
  }

  private path(name: string): string {
    return join(this.dataDir, name);
  }

  loadConfig(): NodeConfig | null {
    const path = this.path(NODE_CONFIG_FILE);
    if (!existsSync(path)) return null;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new FleetError('failed_precondition', `${path} is damaged (${(err as Error).message}); run 'gpufleet-agent join <token>' again`);
    }
    const o = raw as Record<string, unknown>;
    const ok =
      o !== null &&
      typeof o === 'object' &&
      typeof o.nodeId === 'string' &&
      typeof o.serverUrl === 'string' &&
      Array.isArray(o.roots) &&
      o.roots.every((r) => typeof r === 'string') &&
      typeof o.heartbeatMs === 'number' &&
      o.heartbeatMs > 0 &&
      (o.labels === undefined || (typeof o.labels === 'object' && o.labels !== null));
    if (!ok)
      throw new FleetError('failed_precondition', `${path} is damaged: a field is missing or has the wrong type; run 'gpufleet-agent join <token>' again`);
    // Absent in files written before replicas (and on single-server fleets): serverUrl alone.
    const urlsProblem = o.serverUrls === undefined ? null : serverUrlListProblem(o.serverUrls);
    if (urlsProblem) throw new FleetError('failed_precondition', `${path} is damaged: serverUrls: ${urlsProblem}; run 'gpufleet-agent join <token>' again`);
    const caPath = this.path(CA_FILE);
    const caPem = existsSync(caPath) ? readFileSync(caPath, 'utf8') : null;
    return {
      nodeId: o.nodeId as string,
      serverUrl: o.serverUrl as string,
      ...(o.serverUrls === undefined ? {} : { serverUrls: [...(o.serverUrls as string[])] }),
      caPem,
      roots: o.roots as string[],
      heartbeatMs: o.heartbeatMs as number,
      labels: { ...((o.labels as Record<string, string> | undefined) ?? {}) },
    };
  }

  saveConfig(config: NodeConfig): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    if (config.caPem === null) rmSync(this.path(CA_FILE), { force: true });
    else writeAtomic(this.path(CA_FILE), config.caPem, 0o600);
    const { caPem: _ca, ...rest } = config;
    writeAtomic(this.path(NODE_CONFIG_FILE), `${JSON.stringify({ version: 1, ...rest }, null, 2)}\n`, 0o600);
  }

  loadOutbox(): OutboxSnapshot {
    const path = this.path(OUTBOX_FILE);
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const parsed = parseOutboxLog(text);
    this.lastSeq = parsed.lastSeq;
    this.ackedSeq = parsed.ackedSeq;
    this.damagedLines = parsed.damagedLines;
    this.deadRecords = parsed.records - parsed.items.length;
    this.ackRecordsSinceCompaction = 0;
    // Start from a clean file: drops acked items and a torn tail before new lines are appended after it.
    if (this.deadRecords > 1 || parsed.damagedLines > 0) this.rewrite(parsed);
    return parsed;
  }

  appendOutbox(item: OutboxItem, durable: boolean): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    const fd = openSync(this.path(OUTBOX_FILE), 'a', 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ item })}\n`);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (item.seq > this.lastSeq) this.lastSeq = item.seq;
  }

  ackOutbox(upTo: number): void {
    if (upTo <= this.ackedSeq) return;
    this.ackedSeq = upTo;
    this.ackRecordsSinceCompaction++;
    if (this.ackedSeq >= this.lastSeq) {
      // Nothing pending: the compacted file is just the head; no need to read the old one.
      this.rewrite({ lastSeq: this.lastSeq, ackedSeq: this.ackedSeq, items: [] });
      return;
    }
    if (this.ackRecordsSinceCompaction >= this.compactEvery) {
      this.compact();
      return;
    }
    const fd = openSync(this.path(OUTBOX_FILE), 'a', 0o600);
    try {
      // Not fsynced: a lost ack only means the welcome's ackedSeq does the dropping instead.
      writeSync(fd, `${JSON.stringify({ ack: upTo })}\n`);
    } finally {
      closeSync(fd);
    }
    this.deadRecords++;
  }

  replaceOutbox(snapshot: OutboxSnapshot): void {
    this.rewrite(snapshot);
  }

  flush(): void {
    if (this.deadRecords > 0 || this.ackRecordsSinceCompaction > 0) this.compact();
  }

  loadTrust(): TrustRecord[] {
    const path = this.path(TRUST_FILE);
    const records: TrustRecord[] = [];
    this.damagedTrustLines = 0;
    if (!existsSync(path)) return records;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        raw = undefined;
      }
      // A torn last line after a power cut, or a damaged record: skipped, never trusted.
      if (isTrustRecord(raw)) records.push(raw);
      else this.damagedTrustLines++;
    }
    // Start from a clean file, so a torn tail cannot swallow the next appended record.
    if (this.damagedTrustLines > 0) this.replaceTrust(records);
    return records;
  }

  appendTrust(records: readonly TrustRecord[], durable: boolean): void {
    if (records.length === 0) return;
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    const fd = openSync(this.path(TRUST_FILE), 'a', 0o600);
    try {
      writeSync(fd, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  replaceTrust(records: readonly TrustRecord[]): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    writeAtomic(this.path(TRUST_FILE), records.map((r) => `${JSON.stringify(r)}\n`).join(''), 0o600);
  }

  loadAllocations(): StoredAllocation[] {
    const path = this.path(ALLOCATIONS_FILE);
    this.damagedAllocations = 0;
    if (!existsSync(path)) return [];
    let doc: { allocations?: unknown } | null;
    try {
      doc = JSON.parse(readFileSync(path, 'utf8')) as { allocations?: unknown } | null;
    } catch {
      // Written atomically, so this is damage from outside: nothing in it can be trusted.
      this.damagedAllocations = 1;
      return [];
    }
    const raw = Array.isArray(doc?.allocations) ? doc.allocations : [];
    const records: StoredAllocation[] = [];
    for (const r of raw) {
      const parsed = parseStoredAllocation(r);
      if (parsed) records.push(parsed);
      else this.damagedAllocations++;
    }
    return records;
  }

  saveAllocations(records: readonly StoredAllocation[]): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    writeAtomic(this.path(ALLOCATIONS_FILE), `${JSON.stringify({ version: 1, allocations: records })}\n`, 0o600);
  }

  /** Rewrites the outbox file with only the pending items. */
  compact(): void {
    const path = this.path(OUTBOX_FILE);
    const parsed = parseOutboxLog(existsSync(path) ? readFileSync(path, 'utf8') : '');
    this.rewrite({
      lastSeq: Math.max(parsed.lastSeq, this.lastSeq),
      ackedSeq: Math.max(parsed.ackedSeq, this.ackedSeq),
      items: parsed.items.filter((i) => i.seq > this.ackedSeq),
    });
  }

  private rewrite(snapshot: OutboxSnapshot): void {
    const lines = [JSON.stringify({ head: { lastSeq: snapshot.lastSeq, ackedSeq: snapshot.ackedSeq } })];
    for (const item of snapshot.items) lines.push(JSON.stringify({ item }));
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    writeAtomic(this.path(OUTBOX_FILE), `${lines.join('\n')}\n`, 0o600);
    this.lastSeq = snapshot.lastSeq;
    this.ackedSeq = snapshot.ackedSeq;
    this.deadRecords = 0;
    this.ackRecordsSinceCompaction = 0;
  }
}

interface ParsedLog extends OutboxSnapshot {
  records: number;
  damagedLines: number;
}

/** Replays an outbox log. Lines that are not valid records (a torn write) are skipped and counted. */
export function parseOutboxLog(text: string): ParsedLog {
  let lastSeq = 0;
  let ackedSeq = 0;
  let records = 0;
  let damagedLines = 0;
  const items = new Map<number, OutboxItem>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
      if (rec === null || typeof rec !== 'object') throw new Error('not an object');
    } catch {
      damagedLines++;
      continue;
    }
    if (isCount(rec.ack)) {
      ackedSeq = Math.max(ackedSeq, rec.ack);
      records++;
    } else if (rec.head && typeof rec.head === 'object') {
      const h = rec.head as Record<string, unknown>;
      if (!isCount(h.lastSeq) || !isCount(h.ackedSeq)) {
        damagedLines++;
        continue;
      }
      lastSeq = Math.max(lastSeq, h.lastSeq);
      ackedSeq = Math.max(ackedSeq, h.ackedSeq);
      records++;
    } else if (rec.item && typeof rec.item === 'object') {
      const item = validItem(rec.item);
      if (!item) {
        damagedLines++;
        continue;
      }
      items.set(item.seq, item);
      lastSeq = Math.max(lastSeq, item.seq);
      records++;
    } else {
      damagedLines++;
    }
  }
  const pending = [...items.values()].filter((i) => i.seq > ackedSeq).sort((a, b) => a.seq - b.seq);
  return { lastSeq: Math.max(lastSeq, ackedSeq), ackedSeq, items: pending, records, damagedLines };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

// Items are checked against the wire schema: a damaged item replayed to the server would be refused forever.
function validItem(raw: unknown): OutboxItem | null {
  const t = (raw as { t?: unknown }).t;
  const parsed = t === 'event' ? EventFrame.safeParse(raw) : t === 'inventory' ? InventoryFrame.safeParse(raw) : null;
  if (!parsed?.success) return null;
  return parsed.data as OutboxItem;
}

/** Writes a file so readers see the old or the new content, never a half-written one. */
export function writeAtomic(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename itself must survive a power cut too: sync the directory entry.
  try {
    const dirFd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the data itself is already synced.
  }
}
