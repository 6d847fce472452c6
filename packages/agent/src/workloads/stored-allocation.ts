import { AllocHostState, AllocPlacement, GpuVendor, REFUSAL_REASONS, jobSpecHash, type RefusalReason } from '@gpufleet/protocol';
import type { ExecutorGpu } from './executor.js';

/** States an accepted allocation can be in (a refused one is never stored). */
export type StoredAllocState = Exclude<AllocHostState, 'refused'>;

/** States after which nothing runs and nothing more happens to an allocation here. */
export const FINAL_STATES: ReadonlySet<StoredAllocState> = new Set(['failed', 'complete', 'stopped']);

/**
 * An allocation this host accepted, as it keeps it in its state dir: the signed placement it
 * verified (what it runs is rebuilt from it after an agent restart, and verified again) and
 * where supervision stands, so restarts, refusals and stop orders stay right across restarts.
 */
export interface StoredAllocation {
  placement: AllocPlacement;
  specHash: string;
  /** The placement's GPUs as this host saw them when it accepted it (vendor, PCI address). */
  gpus: ExecutorGpu[];
  state: StoredAllocState;
  healthy: boolean | null;
  /** Restarts of the workload so far (crashes, failed health, agent restarts of a process workload). */
  restarts: number;
  /** When each restart the restart policy counts happened (epoch ms), oldest first. */
  restartTimes: number[];
  exitCode: number | null;
  /** Why, for a stopped allocation that this host stopped by itself (e.g. its signer was revoked). */
  reason: RefusalReason | null;
  message: string;
  /**
   * Output chunk numbers reserved so far per stream. After an agent restart numbering goes on
   * from here, so the server, which keeps one chunk per (allocation, stream, number), never
   * drops new output as a duplicate.
   */
  outputReserved: { stdout: number; stderr: number };
  acceptedAt: number;
  updatedAt: number;
}

const STATES = new Set<string>(AllocHostState.options.filter((s) => s !== 'refused'));
const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function parseGpus(raw: unknown, placement: AllocPlacement): ExecutorGpu[] | null {
  if (!Array.isArray(raw) || raw.length !== placement.gpus.length) return null;
  const gpus: ExecutorGpu[] = [];
  for (const [i, g] of raw.entries()) {
    const r = g as Record<string, unknown> | null;
    const assigned = placement.gpus[i]!;
    // The placement says which GPU; the record only adds what the host read about it.
    if (r === null || typeof r !== 'object' || r.index !== assigned.index || r.uuid !== assigned.uuid) return null;
    if (!GpuVendor.safeParse(r.vendor).success || !(r.pciBusId === null || (typeof r.pciBusId === 'string' && r.pciBusId.length <= 64))) return null;
    gpus.push({ index: assigned.index, uuid: assigned.uuid, vendor: r.vendor as GpuVendor, pciBusId: r.pciBusId as string | null });
  }
  return gpus;
}

/** A stored allocation read back from disk, checked; null when damaged (it is then dropped, never trusted). */
export function parseStoredAllocation(raw: unknown): StoredAllocation | null {
  if (raw === null || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const placement = AllocPlacement.safeParse(r.placement);
  if (!placement.success) return null;
  // The hash is recomputed: a record whose spec was edited on disk no longer matches it.
  if (typeof r.specHash !== 'string' || r.specHash !== jobSpecHash(placement.data.job.payload.job)) return null;
  const gpus = parseGpus(r.gpus, placement.data);
  const out = r.outputReserved as Record<string, unknown> | null;
  const ok =
    gpus !== null &&
    typeof r.state === 'string' &&
    STATES.has(r.state) &&
    (r.healthy === null || typeof r.healthy === 'boolean') &&
    count(r.restarts) &&
    Array.isArray(r.restartTimes) &&
    r.restartTimes.length <= 1000 &&
    r.restartTimes.every(count) &&
    (r.exitCode === null || Number.isInteger(r.exitCode)) &&
    (r.reason === null || (REFUSAL_REASONS as readonly unknown[]).includes(r.reason)) &&
    typeof r.message === 'string' &&
    out !== null &&
    typeof out === 'object' &&
    count(out.stdout) &&
    count(out.stderr) &&
    count(r.acceptedAt) &&
    count(r.updatedAt);
  if (!ok) return null;
  return {
    placement: placement.data,
    specHash: r.specHash,
    gpus: gpus!,
    state: r.state as StoredAllocState,
    healthy: r.healthy as boolean | null,
    restarts: r.restarts as number,
    restartTimes: [...(r.restartTimes as number[])],
    exitCode: r.exitCode as number | null,
    reason: r.reason as RefusalReason | null,
    message: (r.message as string).slice(0, 4096),
    outputReserved: { stdout: out.stdout as number, stderr: out.stderr as number },
    acceptedAt: r.acceptedAt as number,
    updatedAt: r.updatedAt as number,
  };
}
