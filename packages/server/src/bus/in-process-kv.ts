import { FleetError } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { BusLog, KvChange, KvEntry } from './bus.js';
import { kvEntry } from './bus-payload.js';

/**
 * A KV bucket of the in-process bus, behaving as a NATS KV bucket with history 1 and max_age:
 * revisions count writes across the whole bucket, a delete leaves a tombstone that holds the
 * key's last revision, and every entry (tombstones too) lapses ttlMs after it was written.
 * Lapsing is judged against the clock when a key is read, so a test clock controls it.
 */

interface Slot {
  /** null for a tombstone. */
  value: Uint8Array | null;
  revision: number;
  writtenAt: number;
}

export class MemoryBucket {
  private readonly slots = new Map<string, Slot>();
  private readonly watchers = new Set<(change: KvChange) => void>();
  private revision = 0;

  constructor(
    private readonly name: string,
    private readonly clock: Clock,
    /** Absent: entries never lapse. The bus changes it when a bucket is opened with another TTL. */
    public ttlMs: number | undefined,
    private readonly log: BusLog | undefined,
  ) {}

  get(key: string): KvEntry | null {
    const slot = this.slot(key);
    return slot?.value ? kvEntry(key, slot.value, slot.revision) : null;
  }

  create(key: string, value: Uint8Array): number {
    if (this.slot(key)?.value) throw new FleetError('already_exists', `key '${key}' of bucket '${this.name}' exists`);
    return this.write(key, value);
  }

  update(key: string, value: Uint8Array, expectedRevision: number): number {
    this.expect(key, expectedRevision);
    return this.write(key, value);
  }

  delete(key: string, expectedRevision: number | undefined): void {
    if (expectedRevision !== undefined) this.expect(key, expectedRevision);
    this.write(key, null);
  }

  keys(): string[] {
    return [...this.slots.keys()].filter((key) => this.slot(key)?.value);
  }

  entries(): KvEntry[] {
    const live: KvEntry[] = [];
    for (const key of this.slots.keys()) {
      const entry = this.get(key);
      if (entry) live.push(entry);
    }
    return live;
  }

  watch(handler: (change: KvChange) => void): () => void {
    this.watchers.add(handler);
    return () => this.watchers.delete(handler);
  }

  /** The key's last write (a tombstone too), unless it has lapsed. */
  private slot(key: string): Slot | undefined {
    const slot = this.slots.get(key);
    if (slot && this.ttlMs !== undefined && this.clock.now() >= slot.writtenAt + this.ttlMs) {
      this.slots.delete(key);
      return undefined;
    }
    return slot;
  }

  private expect(key: string, expectedRevision: number): void {
    const actual = this.slot(key)?.revision ?? 0;
    if (actual !== expectedRevision) {
      throw new FleetError('conflict', `key '${key}' of bucket '${this.name}' is not at revision ${expectedRevision}`, {
        details: { key, expectedRevision },
      });
    }
  }

  private write(key: string, value: Uint8Array | null): number {
    const revision = ++this.revision;
    this.slots.set(key, { value, revision, writtenAt: this.clock.now() });
    const change: KvChange = { key, op: value ? 'put' : 'delete', revision, value };
    // Watchers hear of writes after the writer's call returns, as they would over NATS.
    for (const watcher of this.watchers) {
      queueMicrotask(() => {
        if (!this.watchers.has(watcher)) return;
        try {
          watcher(change);
        } catch (err) {
          this.log?.warn({ err, bucket: this.name, key }, 'a KV watcher threw');
        }
      });
    }
    return revision;
  }
}
