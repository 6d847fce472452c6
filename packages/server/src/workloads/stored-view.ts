import type { Clock } from '../clock.js';
import type { LeaseRole } from '../replicas/leases.js';
import type { AllocationRecord, WorkloadStore } from '../store/workload-records.js';
import type { ClaimTable } from './claims/claim-table.js';
import { lastHealthyOf } from './deployments.js';
import type { FleetSync } from './fleet-sync.js';
import { JobEntry, versionInfoOf } from './job-entry.js';
import type { JobTable } from './job-table.js';
import { ensureVersions } from './job-versions.js';
import { LeaseTenure } from './lease-tenure.js';

/** A replica that does not schedule answers reads from a view at most this old (it reads the store again). */
const FOLLOWER_READ_MS = 1000;

export interface StoredViewDeps {
  store: WorkloadStore;
  clock: Clock;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  lease: LeaseRole;
  table: JobTable;
  claims: ClaimTable;
  fleet: FleetSync;
  /** Hands a host its allocations again (starts and stops). */
  resendTo(nodeId: string): void;
}

/**
 * The workload service's view of jobs, allocations and GPU claims as read from the store: at
 * start; again when this replica begins a new tenure of the scheduler lease (what the previous
 * holder decided is only in the store); and, on a replica that does not schedule, again when a
 * read finds it older than FOLLOWER_READ_MS.
 */
export class StoredView {
  /** When the view was last read whole: offline times count from it at the earliest. */
  startedAt = 0;
  /** When the view was last read from the store, and a read again in progress on a replica that does not schedule. */
  private readAt = 0;
  private followerRead: Promise<void> | null = null;
  /** Reads the view again when this replica begins a new tenure of the scheduler lease. */
  private readonly tenure: LeaseTenure;

  constructor(private readonly d: StoredViewDeps) {
    this.tenure = new LeaseTenure(d.lease, () => this.takeOver());
  }

  /** Reads jobs, their live allocations and the GPU claims from the store, and the fleet from the registry. */
  async load(): Promise<void> {
    await this.readStore();
    await this.d.fleet.syncAll();
  }

  /** Reads jobs, their live allocations and the GPU claims from the store. */
  private async readStore(): Promise<void> {
    const { store, log, table } = this.d;
    this.startedAt = this.d.clock.now();
    this.readAt = this.startedAt;
    const followed: AllocationRecord[] = [];
    for (const record of await store.listJobs()) {
      const entry = new JobEntry(record);
      const current = await store.getJobVersion(record.name, record.currentVersion);
      const info = current ? versionInfoOf(current) : null;
      if (!info) {
        log.warn({ job: record.name, version: record.currentVersion }, 'a stored job has no readable current version; not followed');
        continue;
      }
      entry.versions.set(info.version, info);
      for (const a of await store.listAllocations({ job: record.name })) if (entry.keeps(a)) table.remember(entry, a);
      for (const a of entry.stale()) table.forget(entry, a.id);
      followed.push(...entry.allocs.values());
      entry.deployment = (await store.latestDeployment(record.name)) ?? null;
      entry.lastHealthyVersion = lastHealthyOf(entry.deployment);
      table.add(entry);
      await ensureVersions(store, log, entry);
    }
    this.d.claims.load(await store.listGpuClaims(), followed);
  }

  /** Resolves once the view was read under the scheduler lease tenure held now (the holder reads it before it acts). */
  forTenure(): Promise<void> {
    return this.tenure.current();
  }

  /**
   * Resolves once this replica's view is current enough to answer a read: the holder's own view
   * (read again first when its tenure is new); on another replica, which changes nothing, the
   * store read again when the last read is older than FOLLOWER_READ_MS.
   */
  async current(): Promise<void> {
    if (this.d.lease.holds()) return this.tenure.current();
    if (this.d.clock.now() - this.readAt < FOLLOWER_READ_MS) return;
    // The store only: the fleet index follows node changes as they come (workload-service.ts), and
    // a replica that does not schedule has no use for a whole pass over the fleet every second.
    this.followerRead ??= this.readAgain(false).finally(() => {
      this.followerRead = null;
    });
    await this.followerRead;
  }

  /**
   * This replica took the scheduler lease over: what the previous holder decided is only in the
   * store, so the view is read again; then every host is handed its allocations again (a start
   * is idempotent, the host reports its state once more), so reports the previous holder took
   * but never applied come back.
   */
  private async takeOver(): Promise<void> {
    this.d.log.info({}, 'took the scheduler lease over: reading the jobs and allocations again');
    // With the fleet too: a node change missed while another replica held the lease (a bus
    // outage) must not mislead this holder's placements.
    await this.readAgain(true);
    for (const nodeId of this.d.table.nodes()) this.d.resendTo(nodeId);
  }

  private async readAgain(withFleet: boolean): Promise<void> {
    this.d.table.clear();
    if (withFleet) await this.load();
    else await this.readStore();
  }
}
