import type { LeaseRole } from '../replicas/leases.js';

/**
 * Which tenure of the scheduler lease this replica's view of the jobs was read under. Another
 * replica changed jobs and allocations while this one did not hold the lease, so a replica that
 * starts a new tenure reads its view again before it acts: otherwise it would schedule from the
 * jobs it read when it started. A tenure lost and won back between two looks is a new tenure
 * too, which comparing tenure ids (not a held flag) catches; renewals keep the id (the fencing
 * token itself changes with each renewal, so it cannot say this).
 */
export class LeaseTenure {
  private readUnder: number | null;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly lease: LeaseRole,
    private readonly readAgain: () => Promise<void>,
  ) {
    this.readUnder = lease.tenure();
  }

  /** Resolves once the view is current for the tenure held now (at once unless a new one began). */
  async current(): Promise<void> {
    const tenure = this.lease.tenure();
    if (tenure !== null && tenure !== this.readUnder && this.reading === null) {
      this.readUnder = tenure;
      this.reading = this.readAgain()
        .catch((err: unknown) => {
          // Read again on the next look: acting on the old view is what this class exists to stop.
          this.readUnder = null;
          throw err;
        })
        .finally(() => {
          this.reading = null;
        });
    }
    await this.reading;
  }
}
