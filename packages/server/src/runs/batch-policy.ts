import { z } from 'zod';
import { FleetError } from '@gpufleet/protocol';

/** `25%` or `12.5%`; a plain count is a number (or a string of digits). */
const PERCENT = /^(\d{1,3}(?:\.\d{1,3})?)%$/;
const COUNT = /^\d{1,7}$/;

const countOrPercent = z.union([
  z.number().int().nonnegative().max(10_000_000),
  z
    .string()
    .max(12)
    .regex(new RegExp(`${PERCENT.source}|${COUNT.source}`), 'must be a whole number or a percentage such as 25%'),
]);

/** How a run is rolled out, as the operator asks for it (POST /api/v1/runs `batch`). */
export const BatchOptions = z.strictObject({
  /** At most this many hosts working at once. */
  maxParallel: z.number().int().positive().max(10_000_000).optional(),
  /** Hosts per batch, a count or a percentage of the targets; the next batch starts when one ends. */
  batchSize: countOrPercent.optional(),
  /** Stop starting hosts once more than this many (or this percentage) have not succeeded. */
  failureThreshold: countOrPercent.optional(),
});
export type BatchOptions = z.infer<typeof BatchOptions>;

/** The policy resolved against the number of targets: plain counts the scheduler uses. */
export interface BatchPolicy {
  maxParallel: number | null;
  batchSize: number;
  /** Failures allowed; one more stops the rollout. null: no threshold. */
  failureThreshold: number | null;
  /** What was asked, kept for the record. */
  asked: BatchOptions;
}

/** A count, or a percentage of `total` (rounded by `round`), from a number or text. */
function amount(field: string, value: number | string, total: number, round: (n: number) => number, allowZero: boolean): number {
  if (typeof value === 'number') return value;
  const pct = PERCENT.exec(value);
  if (!pct) return Number(value);
  const p = Number(pct[1]);
  if (p > 100 || (!allowZero && p === 0))
    throw new FleetError('invalid_argument', `batch.${field} '${value}' must be a percentage ${allowZero ? 'from 0' : 'above 0'} up to 100%`);
  return round((total * p) / 100);
}

/** Resolves percentages against the target count; a batch always holds at least one host. */
export function resolveBatchPolicy(asked: BatchOptions | undefined, total: number): BatchPolicy {
  const a = asked ?? {};
  let batchSize = Math.max(total, 1);
  if (a.batchSize !== undefined) {
    // A percentage rounds up (25% of 3 hosts is 1 host); a count must be at least 1.
    const n = amount('batchSize', a.batchSize, total, Math.ceil, false);
    if (n < 1) throw new FleetError('invalid_argument', `batch.batchSize must be at least 1, got ${JSON.stringify(a.batchSize)}`);
    batchSize = Math.min(n, batchSize);
  }
  // A percentage of failures allowed rounds down: 10% of 15 hosts allows 1 failure, the 2nd stops.
  const failureThreshold = a.failureThreshold === undefined ? null : amount('failureThreshold', a.failureThreshold, total, Math.floor, true);
  return { maxParallel: a.maxParallel ?? null, batchSize, failureThreshold, asked: a };
}

/** Splits ids into consecutive batches of `size`. */
export function splitBatches<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}
