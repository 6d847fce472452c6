import type { FleetIndex } from './fleet-index.js';
import { countJobByLabel, spreadValue } from './job-label-counts.js';
import type { ClaimView } from './scheduler-types.js';

/** A job's allocations per value of a label, as one plan sees them: before the plan, plus what it placed so far. */
export class SpreadTally {
  private readonly added = new Map<string, number>();

  constructor(private readonly before: ReadonlyMap<string, number>) {}

  count(value: string): number {
    return (this.before.get(value) ?? 0) + (this.added.get(value) ?? 0);
  }

  add(value: string): void {
    this.added.set(value, (this.added.get(value) ?? 0) + 1);
  }
}

/**
 * Spread over a label (`spread: rack`) for one batch. The counts before the batch come from the
 * fleet index when it follows these claims (kept current across plans), else are counted once
 * from the claims; the batch's own placements are added on top.
 */
export class SpreadCounts {
  private readonly tallies = new Map<string, SpreadTally>();

  constructor(
    private readonly fleet: FleetIndex,
    /** The claims before the batch (not the batch's overlay: its placements are added here). */
    private readonly claims: ClaimView,
  ) {}

  tally(job: string, label: string): SpreadTally {
    const key = `${job}\u0000${label}`;
    let tally = this.tallies.get(key);
    if (!tally) {
      tally = new SpreadTally(this.fleet.jobLabelCounts(job, label, this.claims) ?? countJobByLabel(this.fleet, this.claims, job, label));
      this.tallies.set(key, tally);
    }
    return tally;
  }

  /** One more allocation of `job` on a node with these labels. */
  add(job: string, label: string, labels: Readonly<Record<string, string>>): void {
    this.tally(job, label).add(spreadValue(labels, label));
  }
}
