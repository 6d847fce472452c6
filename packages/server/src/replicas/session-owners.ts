import type { Bus, BusKv } from '../bus/bus.js';
import { buckets, kvKeys, tokenId } from '../bus/subjects.js';
import type { Clock } from '../clock.js';

/** Who holds a node's agent session: a replica instance. */
interface Owner {
  replica: string;
  instance: string;
  revision: number;
}

/** What the registry needs to know of sessions held by other replicas. */
export interface RemoteSessions {
  /** True while another live replica holds the node's session (or held it within the grace period). */
  heldElsewhere(nodeId: string): boolean;
}

/** The single-replica answer: no other replica holds anything. */
export const NO_OTHER_REPLICAS: RemoteSessions = { heldElsewhere: () => false };

export interface SessionOwnersOptions {
  bus: Bus;
  replica: string;
  instance: string;
  /** Which replica instances are alive, and when a dead one was last seen (replica-directory.ts). */
  directory: { isAlive(name: string, instance: string): boolean; lastSeenAlive(name: string, instance: string): number | null };
  clock: Clock;
  /**
   * A node whose holder died still counts as held this long after the holder was last seen: its
   * agent gets the usual 3 heartbeats to reappear on another replica before it reads OFFLINE.
   */
  graceMs: number;
  /** A node's holder changed (the registry announces a status change). */
  onChange: (nodeId: string) => void;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Session ownership across replicas: one key per node in a bucket, naming the replica instance
 * holding its agent session. Entries do not lapse one by one: they live as long as the holder's
 * entry in the replicas bucket, which it renews every beat. One renewal per replica instead of one
 * per agent keeps 100,000 agents from costing 100,000 KV writes every few seconds; a replica that
 * dies takes all its claims with it at once, and a restarted one (a new instance) holds none of
 * its old claims. Every replica watches the bucket and keeps the map in memory.
 */
export class SessionOwners implements RemoteSessions {
  private kv: BusKv | null = null;
  private readonly owners = new Map<string, Owner>();
  /** Per node, the write in flight, so claim and release of one node happen in order. */
  private readonly queue = new Map<string, Promise<void>>();
  private stopWatch: (() => Promise<void>) | null = null;

  constructor(private readonly o: SessionOwnersOptions) {}

  async start(): Promise<void> {
    const kv = await this.o.bus.kv(buckets.sessionOwners);
    this.kv = kv;
    this.stopWatch = await kv.watch((change) => {
      let nodeId: string;
      try {
        nodeId = tokenId(change.key);
      } catch {
        return; // not a key of ours
      }
      if (change.op === 'delete' || change.value === null) {
        this.owners.delete(nodeId);
      } else {
        const owner = parseOwner(change.value, change.revision);
        if (owner) this.owners.set(nodeId, owner);
      }
      this.o.onChange(nodeId);
    });
    // What was claimed before this replica started (watching first: nothing falls in between), in
    // one read of the bucket: a get per key cost 100,000 requests at a 100,000-node start.
    for (const entry of await kv.entries()) {
      const owner = parseOwner(entry.value, entry.revision);
      if (!owner) continue;
      let nodeId: string;
      try {
        nodeId = tokenId(entry.key);
      } catch {
        continue;
      }
      const known = this.owners.get(nodeId);
      if (!known || known.revision < owner.revision) this.owners.set(nodeId, owner);
    }
  }

  /** This replica took the node's session: claim it (whoever held it before). */
  claim(nodeId: string): void {
    this.enqueue(nodeId, async (kv) => {
      const key = kvKeys.sessionOwner(nodeId);
      const value = { replica: this.o.replica, instance: this.o.instance, at: this.o.clock.now() };
      for (let attempt = 0; attempt < 5; attempt++) {
        const current = await kv.get(key);
        try {
          const revision = current === null ? await kv.create(key, value) : await kv.update(key, value, current.revision);
          this.owners.set(nodeId, { replica: this.o.replica, instance: this.o.instance, revision });
          return;
        } catch {
          // Another replica wrote between our read and write: read again.
        }
      }
      this.o.log.warn({ nodeId }, 'could not record this replica as the session holder');
    });
  }

  /**
   * Another replica says it holds the node's session now (its session-ready message, sent when
   * the agent was welcomed there): believed at once, because it may arrive before that replica's
   * claim does, and frames sent in answer to it must go to the new holder, not to the old one,
   * which may be dead but still listed for a few beats (or frozen).
   */
  noteHolder(nodeId: string, replica: string, instance: string): void {
    if (this.owners.get(nodeId)?.instance === instance) return;
    if (!this.o.directory.isAlive(replica, instance)) return;
    // Revision 0: the claim itself, when its watch event arrives, replaces this.
    this.owners.set(nodeId, { replica, instance, revision: 0 });
  }

  /** The session closed here: release the claim, unless another replica took it meanwhile. */
  release(nodeId: string): void {
    this.enqueue(nodeId, async (kv) => {
      const owner = this.owners.get(nodeId);
      if (!owner || owner.replica !== this.o.replica || owner.instance !== this.o.instance) return;
      await kv.delete(kvKeys.sessionOwner(nodeId), owner.revision).catch(() => undefined);
    });
  }

  private enqueue(nodeId: string, write: (kv: BusKv) => Promise<void>): void {
    const kv = this.kv;
    if (!kv) return;
    const previous = this.queue.get(nodeId) ?? Promise.resolve();
    const next = previous
      .then(() => write(kv))
      .catch((err: Error) => this.o.log.warn({ nodeId, err: err.message }, 'session ownership write failed'))
      .finally(() => {
        if (this.queue.get(nodeId) === next) this.queue.delete(nodeId);
      });
    this.queue.set(nodeId, next);
  }

  /** The replica holding the node's session now, or null (none, or its holder died past the grace). */
  holderOf(nodeId: string): string | null {
    const owner = this.owners.get(nodeId);
    if (!owner) return null;
    if (this.o.directory.isAlive(owner.replica, owner.instance)) return owner.replica;
    const seen = this.o.directory.lastSeenAlive(owner.replica, owner.instance);
    return seen !== null && this.o.clock.now() - seen <= this.o.graceMs && owner.replica !== this.o.replica ? owner.replica : null;
  }

  heldElsewhere(nodeId: string): boolean {
    const holder = this.holderOf(nodeId);
    return holder !== null && holder !== this.o.replica;
  }

  /** Whether another live replica holds the node's session: frames for it go there. */
  liveHolderElsewhere(nodeId: string): string | null {
    const owner = this.owners.get(nodeId);
    if (!owner || owner.replica === this.o.replica) return null;
    return this.o.directory.isAlive(owner.replica, owner.instance) ? owner.replica : null;
  }

  /** Waits for the ownership writes in flight (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.queue.size > 0) await Promise.all([...this.queue.values()]);
  }

  async stop(): Promise<void> {
    await this.settled();
    await this.stopWatch?.();
    this.stopWatch = null;
    this.kv = null;
  }
}

function parseOwner(value: Uint8Array, revision: number): Owner | null {
  try {
    const o = JSON.parse(Buffer.from(value).toString('utf8')) as Record<string, unknown>;
    return typeof o.replica === 'string' && typeof o.instance === 'string' ? { replica: o.replica, instance: o.instance, revision } : null;
  } catch {
    return null;
  }
}
