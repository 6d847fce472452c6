import { FleetError } from '@gpufleet/protocol';
import type { Bus, BusKv } from '../bus/bus.js';
import { buckets, kvKeys } from '../bus/subjects.js';

/**
 * Which replica instance follows each active run (issue 13): the one that took it (or took it up
 * after a restart) delivers its batches, applies its hosts' reports and finishes it. A claim lives
 * as long as its instance's entry in the replica directory, like a session claim: when a
 * replica dies, a survivor's next look finds its runs unfollowed and takes them up, and a
 * replica that restarts (a new instance) takes up only runs nobody alive follows. Claims are
 * compare-and-set on the key's revision, so two survivors never both take one run.
 */
export interface RunClaims {
  /** Makes this instance the run's follower unless a live instance follows it; true when it does now. */
  claim(runId: string): Promise<boolean>;
  /** The run ended: forget its claim. */
  release(runId: string): Promise<void>;
}

interface Follower {
  replica: string;
  instance: string;
}

export interface RunFollowersOptions {
  bus: Bus;
  replica: string;
  instance: string;
  directory: { isAlive(name: string, instance: string): boolean };
}

export class RunFollowers implements RunClaims {
  private kv: BusKv | null = null;

  constructor(private readonly o: RunFollowersOptions) {}

  async start(): Promise<void> {
    this.kv = await this.o.bus.kv(buckets.runFollowers);
  }

  async claim(runId: string): Promise<boolean> {
    const kv = this.bucket();
    const key = kvKeys.runFollower(runId);
    const mine = { replica: this.o.replica, instance: this.o.instance };
    const entry = await kv.get(key);
    const current = entry ? parseFollower(safeJson(entry)) : null;
    if (current?.instance === this.o.instance) return true;
    if (current && this.o.directory.isAlive(current.replica, current.instance)) return false;
    try {
      if (entry) await kv.update(key, mine, entry.revision);
      else await kv.create(key, mine);
      return true;
    } catch (err) {
      // Another replica took it between our read and our write.
      if (FleetError.is(err, 'conflict') || FleetError.is(err, 'already_exists')) return false;
      throw err;
    }
  }

  async release(runId: string): Promise<void> {
    await this.bucket().delete(kvKeys.runFollower(runId));
  }

  private bucket(): BusKv {
    if (!this.kv) throw new FleetError('failed_precondition', 'run followers used before start');
    return this.kv;
  }
}

function safeJson(entry: { json<T>(): T }): unknown {
  try {
    return entry.json();
  } catch {
    return null; // garbage under our key: taken over like a dead follower's
  }
}

function parseFollower(value: unknown): Follower | null {
  const v = value as Partial<Follower> | null;
  return v && typeof v.replica === 'string' && typeof v.instance === 'string' ? { replica: v.replica, instance: v.instance } : null;
}
