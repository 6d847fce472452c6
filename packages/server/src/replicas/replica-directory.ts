import type { ReplicaView } from '@gpufleet/protocol';
import { FleetError } from '@gpufleet/protocol';
import type { Bus, BusKv } from '../bus/bus.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../clock.js';
import { kvPut } from './kv-put.js';
import { parseReplicaRecord, type ReplicaRecord } from './replica-record.js';

export const REPLICAS_BUCKET = 'replicas';
/** Every replica's URL, kept while it is down (not a TTL bucket): removed only when it stops on purpose. */
export const REPLICA_URLS_BUCKET = 'replica-urls';

/** How long stop() waits for a beat under way before it leaves the directory anyway. */
const STOP_WAIT_MS = 2000;

export interface ReplicaDirectoryOptions {
  bus: Bus;
  name: string;
  /** This process's instance id (app/replica-services.ts): a restart under the same name is a new one. */
  instance: string;
  clock: Clock;
  /** How often this replica renews its entry and reads the others'; an entry lapses after 3 beats. */
  beatMs: number;
  /** The URL this replica is reached at, once it listens. */
  url: () => string;
  /** Agent sessions held here now (gateway stats). */
  agents: () => number;
  /** Singleton roles held here now (leases). */
  leases: () => string[];
  version: string;
  log: { warn(obj: object, msg: string): void };
}

/**
 * The replicas of this control plane: each writes its own entry to a bucket whose entries lapse
 * after three beats, so a replica that dies (SIGKILL, lost host) drops out on its own, and reads
 * the others' every beat. A name is one replica's: starting a second live one under it is refused.
 */
export class ReplicaDirectory {
  private readonly startedAt: number;
  private kv: BusKv | null = null;
  private urlsKv: BusKv | null = null;
  private revision = 0;
  /** The URL last written to the URL bucket (it becomes known once the listener is up). */
  private writtenUrl = '';
  private knownUrls = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private peers = new Map<string, ReplicaRecord>();
  /** When a replica was last seen alive, kept after it lapsed: sessions it held get a grace period. */
  private readonly lastAlive = new Map<string, number>();
  private beating: Promise<void> | null = null;
  private beatStartedAt = 0;
  /** Counts beats: what a beat left behind reads comes too late to be the directory's view. */
  private generation = 0;

  constructor(private readonly o: ReplicaDirectoryOptions) {
    this.startedAt = o.clock.now();
  }

  get name(): string {
    return this.o.name;
  }

  get ttlMs(): number {
    return this.o.beatMs * 3;
  }

  async start(): Promise<void> {
    this.kv = await this.o.bus.kv(REPLICAS_BUCKET, { ttlMs: this.ttlMs });
    this.urlsKv = await this.o.bus.kv(REPLICA_URLS_BUCKET);
    const existing = await this.kv.get(this.o.name);
    const other = existing ? parseReplicaRecord(jsonOrNull(existing)) : null;
    if (other && other.instance !== this.o.instance) {
      throw new FleetError(
        'already_exists',
        `replica name '${this.o.name}' is held by a live replica (${other.url || 'no URL yet'}, its last beat ${new Date(other.heartbeatAt).toISOString()}); give this one another --replica-name, or wait ${Math.ceil(this.ttlMs / 1000)} s if that replica just died`,
      );
    }
    this.revision = existing ? await this.kv.update(this.o.name, this.record(), existing.revision) : await this.kv.create(this.o.name, this.record());
    await this.refresh();
    this.timer = setInterval(() => {
      // One beat at a time: a slow NATS must not pile beats up. But one that hangs (a KV read
      // that never ends was seen under load) is left behind after a TTL, or this replica would
      // never beat again and the others would count it dead while it runs.
      if (this.beating && performance.now() - this.beatStartedAt < this.ttlMs) return;
      if (this.beating)
        this.o.log.warn({ replica: this.o.name, ms: Math.round(performance.now() - this.beatStartedAt) }, 'a replica beat is hung; beating again without it');
      const generation = ++this.generation;
      this.beatStartedAt = performance.now();
      const beat = this.beat(generation).finally(() => {
        if (this.beating === beat) this.beating = null;
      });
      this.beating = beat;
    }, this.o.beatMs);
  }

  private record(): ReplicaRecord {
    return {
      name: this.o.name,
      instance: this.o.instance,
      url: this.o.url(),
      startedAt: this.startedAt,
      heartbeatAt: this.o.clock.now(),
      agents: this.o.agents(),
      leases: this.o.leases(),
      version: this.o.version,
    };
  }

  private async beat(generation: number): Promise<void> {
    const kv = this.kv;
    if (!kv) return;
    await this.writeUrl();
    if (generation !== this.generation) return;
    try {
      this.revision = await kv.update(this.o.name, this.record(), this.revision);
    } catch (err) {
      // A beat left behind whose write fails at last: the beat after it keeps the entry (its own
      // write is why this one's revision is stale), and writing again would undo that one's.
      if (generation !== this.generation) return;
      // Our entry lapsed (a long pause, NATS restarted without it) or was rewritten: write it again.
      this.o.log.warn({ err: (err as Error).message, replica: this.o.name }, 'replica entry was not ours any more; writing it again');
      try {
        this.revision = await kvPut(kv, this.o.name, this.record());
      } catch (again) {
        this.o.log.warn({ err: (again as Error).message }, 'could not renew this replica entry');
      }
    }
    try {
      await this.refresh(generation);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'could not read the other replicas');
    }
  }

  private async writeUrl(): Promise<void> {
    const url = this.o.url();
    if (!this.urlsKv || url === '' || url === this.writtenUrl) return;
    try {
      await kvPut(this.urlsKv, this.o.name, { url });
      this.writtenUrl = url;
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'could not record this replica URL');
    }
  }

  /** Reads every live entry, a bucket in one read each (a handful of replicas). */
  private async refresh(generation = this.generation): Promise<void> {
    const kv = this.kv;
    if (!kv) return;
    let urls: Map<string, string> | null = null;
    if (this.urlsKv) {
      urls = new Map<string, string>();
      for (const entry of await this.urlsKv.entries()) {
        const value = jsonOrNull(entry);
        const url = value !== null && typeof value === 'object' ? (value as { url?: unknown }).url : undefined;
        if (typeof url === 'string' && url !== '') urls.set(entry.key, url);
      }
    }
    const next = new Map<string, ReplicaRecord>();
    for (const entry of await kv.entries()) {
      const record = parseReplicaRecord(jsonOrNull(entry));
      if (record) next.set(entry.key, record);
    }
    // A beat left behind as hung that ends after all: a later beat's reading stands.
    if (generation !== this.generation) return;
    if (urls) this.knownUrls = urls;
    const now = this.o.clock.now();
    for (const record of next.values()) this.lastAlive.set(aliveKey(record.name, record.instance), now);
    this.peers = next;
  }

  /** Every live replica, this one first. */
  list(): ReplicaView[] {
    const self = { ...this.record(), self: true };
    const others = [...this.peers.values()].filter((r) => r.name !== this.o.name).map((r) => ({ ...r, self: false }));
    return [self, ...others.sort((a, b) => a.name.localeCompare(b.name))];
  }

  /** Whether a replica instance is alive: its entry was there at the last read (this one always is). */
  isAlive(name: string, instance: string): boolean {
    if (name === this.o.name) return instance === this.o.instance;
    return this.peers.get(name)?.instance === instance;
  }

  /** When a replica was last seen alive (null: never, in this process's life). */
  lastSeenAlive(name: string, instance: string): number | null {
    if (name === this.o.name && instance === this.o.instance) return this.o.clock.now();
    // By instance: a replica restarted under the same name is alive, but its old instance is not.
    return this.lastAlive.get(aliveKey(name, instance)) ?? null;
  }

  /**
   * The URLs agents should know (their welcome carries them): this replica's, the other live
   * ones', then those of replicas down now but not stopped on purpose, so a partial outage does
   * not shrink the agents' lists. At most 16, the limit of the agents' list.
   */
  urls(): string[] {
    const live = this.list().map((r) => r.url);
    return [...new Set([...live, ...this.knownUrls.values()])].filter((u) => u !== '').slice(0, 16);
  }

  /** Leaves the directory at once, so the others need not wait for the entry to lapse. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A beat under way may finish first, but a hung one must not keep the process from stopping.
    if (this.beating) await Promise.race([this.beating, sleep(STOP_WAIT_MS, undefined, { ref: false })]);
    const kv = this.kv;
    this.kv = null;
    await kv?.delete(this.o.name, this.revision).catch(() => undefined);
    // Stopped on purpose: agents need not try this URL any more.
    const urlsKv = this.urlsKv;
    this.urlsKv = null;
    if (this.writtenUrl !== '') await urlsKv?.delete(this.o.name).catch(() => undefined);
  }
}

const aliveKey = (name: string, instance: string) => `${name}\u0000${instance}`;

/** An entry's value as JSON, or null when it is not JSON (garbage in a bucket must not stop the directory). */
function jsonOrNull(entry: { json<T>(): T } | null): unknown {
  if (entry === null) return null;
  try {
    return entry.json();
  } catch {
    return null;
  }
}
