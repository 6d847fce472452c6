import { FleetError } from '@gpufleet/protocol';
import type { Bus, BusKv } from '../bus/bus.js';

export const LEASES_BUCKET = 'leases';

/** The singleton loops that must run on one replica at a time. */
export const LEASE_ROLES = ['alerts', 'retention', 'pools', 'scheduler'] as const;
export type LeaseRoleName = (typeof LEASE_ROLES)[number];

export interface LeasesOptions {
  bus: Bus;
  replica: string;
  instance: string;
  /** A lease lapses this long after its last renewal; it is renewed every third of it. */
  ttlMs: number;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Monotonic milliseconds (performance.now); a test may drive it. */
  monotonic?: () => number;
}

/** One role as the loop that needs it sees it. */
export interface LeaseRole {
  readonly name: LeaseRoleName;
  /**
   * Whether this replica may act for the role right now. False once the local deadline passed,
   * whatever NATS says: a replica paused past its lease (SIGSTOP, a long GC, a frozen VM) finds
   * its deadline gone the moment it runs again, before it could renew, and so does not act.
   */
  holds(): boolean;
  /** The fencing token of the current tenure (the lease's KV revision), null when not held. Grows with every tenure and every renewal. */
  fence(): number | null;
  /**
   * Which tenure this replica holds: the revision that began it, the same across its renewals;
   * null when not held. A new value means another replica may have acted in between.
   */
  tenure(): number | null;
}

/** What the loops and the replica directory see of the leases, whoever keeps them. */
export interface LeaseSet {
  role(name: LeaseRoleName): LeaseRole;
  /** The roles this replica holds now. */
  held(): LeaseRoleName[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The leases of an embedded control plane (one process, no --bus): it holds every role, always.
 * No other replica could act, so there is nothing to fence, and a stall of its own event loop on
 * a loaded machine must not make it refuse job changes or rollouts as if another might.
 */
export class SoleLeases implements LeaseSet {
  role(name: LeaseRoleName): LeaseRole {
    return soleHolder(name);
  }

  held(): LeaseRoleName[] {
    return [...LEASE_ROLES];
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}

/** A role always held: for a loop built outside a replica set (unit tests, tools). */
export function soleHolder(name: LeaseRoleName): LeaseRole {
  return { name, holds: () => true, fence: () => 0, tenure: () => 0 };
}

interface Tenure {
  revision: number;
  /** The revision that began this tenure (renewals keep it). */
  since: number;
  /** Monotonic time after which this replica must assume the lease lost. */
  deadline: number;
}

/**
 * Leases on NATS KV (or the in-process bus' KV in the single-replica mode), one key per role.
 * Chosen over PostgreSQL advisory locks because those are held by a database session: a replica
 * whose connection pool keeps a session alive while its event loop is stuck would keep the lock,
 * and SQLite has none. Here a lease is a key written with create (only when absent) and renewed
 * with compare-and-set on its revision, and the bucket's TTL drops the key of a holder that stops
 * renewing. The revision is the fencing token; the local deadline (set from when the renewal was
 * sent, not when it was answered, minus a margin for clock drift) is what stops a paused holder.
 */
export class Leases implements LeaseSet {
  private kv: BusKv | null = null;
  private readonly roles = new Map<LeaseRoleName, Tenure | null>();
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly o: LeasesOptions) {
    if (!Number.isInteger(o.ttlMs) || o.ttlMs < 300)
      throw new FleetError('invalid_argument', 'a lease TTL must be a whole number of milliseconds, at least 300');
    this.now = o.monotonic ?? (() => performance.now());
    // Every role is contended for from the first pass, before the loops that need one start.
    for (const name of LEASE_ROLES) this.roles.set(name, null);
  }

  /** One role as its loop sees it. */
  role(name: LeaseRoleName): LeaseRole {
    return {
      name,
      holds: () => this.holds(name),
      fence: () => (this.holds(name) ? (this.roles.get(name)?.revision ?? null) : null),
      tenure: () => (this.holds(name) ? (this.roles.get(name)?.since ?? null) : null),
    };
  }

  private holds(name: LeaseRoleName): boolean {
    const tenure = this.roles.get(name);
    return tenure !== null && tenure !== undefined && this.now() < tenure.deadline;
  }

  /** The roles held now (for the replica's entry and /metrics). */
  held(): LeaseRoleName[] {
    return [...this.roles.keys()].filter((name) => this.holds(name));
  }

  async start(): Promise<void> {
    this.kv = await this.o.bus.kv(LEASES_BUCKET, { ttlMs: this.o.ttlMs });
    await this.renewAll();
    this.timer = setInterval(
      () => {
        this.renewing ??= this.renewAll().finally(() => (this.renewing = null));
      },
      Math.max(100, Math.floor(this.o.ttlMs / 3)),
    );
  }

  /** One pass: renew what is held, try to take what lapsed. */
  async renewAll(): Promise<void> {
    for (const name of this.roles.keys()) await this.contend(name);
  }

  private async contend(name: LeaseRoleName): Promise<void> {
    const kv = this.kv;
    if (!kv) return;
    const sentAt = this.now();
    // A margin of a tenth of the TTL: NATS judges expiry by its clock, we by ours.
    const deadline = sentAt + this.o.ttlMs * 0.9;
    const record = { replica: this.o.replica, instance: this.o.instance };
    const tenure = this.roles.get(name) ?? null;
    try {
      if (tenure !== null && this.now() < tenure.deadline) {
        const revision = await kv.update(name, record, tenure.revision);
        this.roles.set(name, { revision, since: tenure.since, deadline });
        return;
      }
      if (tenure !== null) {
        // The deadline passed while we were not looking (paused): the tenure is over, whatever happens next.
        this.roles.set(name, null);
        this.o.log.warn({ role: name, replica: this.o.replica }, 'lease deadline passed before it was renewed; no longer acting for the role');
      }
      const revision = await kv.create(name, record);
      this.roles.set(name, { revision, since: revision, deadline });
      this.o.log.info({ role: name, replica: this.o.replica, fence: revision }, 'took the lease');
    } catch (err) {
      const lost = err instanceof FleetError && (err.code === 'conflict' || err.code === 'already_exists');
      if (tenure !== null) this.o.log.warn({ role: name, replica: this.o.replica, err: (err as Error).message }, 'lost the lease');
      this.roles.set(name, null);
      if (!lost) this.o.log.warn({ role: name, err: (err as Error).message }, 'could not reach the lease bucket');
    }
  }

  /** Gives every held lease up at once, so another replica takes over without waiting for the TTL. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.renewing;
    const kv = this.kv;
    this.kv = null;
    for (const [name, tenure] of this.roles) {
      this.roles.set(name, null);
      if (tenure !== null) await kv?.delete(name, tenure.revision).catch(() => undefined);
    }
  }
}
