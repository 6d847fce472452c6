import type { RunTargetState } from '@gpufleet/protocol';

export { RUN_STATES, type RunState } from '@gpufleet/protocol';
import type { RunOutputStream, RunState } from '@gpufleet/protocol';

/** One run (0003_runs): an operator-signed command fanned out to the hosts its selector matched. */
export interface RunRecord {
  /** payload.runId of the signed command. */
  id: string;
  createdAt: number;
  /** The API principal that submitted it (`token:name(id)`). */
  createdBy: string;
  /** The DID that signed the command. */
  invoker: string;
  /** Id of the invoker's capability (capabilityId()), null when the invoker is a root. */
  capabilityId: string | null;
  ability: string;
  /** The label selector the operator signed (payload.target). */
  selector: string;
  /** A short human text of what runs (`echo ok`, `script disk-check v3`). */
  summary: string;
  /** The SignedCommand exactly as submitted (any JSON): re-delivered verbatim after a restart. */
  command: unknown;
  /** The resolved batch policy (any JSON). */
  batch: unknown;
  state: RunState;
  /** How many targets are in each state (kept with the run so lists need no target rows). */
  counts: Partial<Record<RunTargetState, number>>;
  /** Why the run stopped early (failure threshold, canceled by ...); null otherwise. */
  reason: string | null;
  /** After this, targets that never answered become unreachable. */
  deadline: number;
  finishedAt: number | null;
  canceledBy: string | null;
}

/** One host of a run and how far it got. */
export interface RunTargetRecord {
  runId: string;
  nodeId: string;
  hostname: string;
  /** Batch number, from 0. */
  batch: number;
  state: RunTargetState;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  sentAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  durationMs: number | null;
  /** Output bytes the host produced (as the host counts them when it reports a result). */
  outputBytes: number;
  truncated: boolean;
}

/** Output chunk streams; `truncated` is the one marker written when a host's output hits the cap. */
export { RUN_OUTPUT_STREAMS, type RunOutputStream } from '@gpufleet/protocol';

export interface RunOutputInput {
  runId: string;
  nodeId: string;
  stream: RunOutputStream;
  /** The host's chunk number; with (run, node, stream) it de-duplicates re-sent chunks. */
  chunk: number;
  data: string;
  at: number;
}

export interface RunOutputRecord extends RunOutputInput {
  /** Store order (arrival order): the cursor of listRunOutput's `after`. */
  id: number;
}

/** What one tick of the run service writes, in one transaction: full rows, inserted or replaced. */
export interface RunProgress {
  runs: ReadonlyArray<RunRecord>;
  targets: ReadonlyArray<RunTargetRecord>;
  output: ReadonlyArray<RunOutputInput>;
}

export interface ListRunsQuery {
  /** Only runs that are still running. */
  active?: boolean;
  /** Only runs created strictly before this time (paging, newest first). */
  before?: number;
  limit?: number; // default 100, newest first
}

export interface ListRunOutputQuery {
  runId: string;
  nodeId?: string;
  /** Only chunks with an id above this (exclusive cursor). */
  after?: number;
  limit?: number; // default 100, at most 10,000, oldest first
}

/** The store's part for runs (0003_runs); the Store interface extends it. */
export interface RunStore {
  /** Inserts a run with all its targets atomically; already_exists FleetError when the id is taken. */
  insertRun(run: RunRecord, targets: ReadonlyArray<RunTargetRecord>): Promise<void>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /** Newest first. */
  listRuns(query: ListRunsQuery): Promise<RunRecord[]>;
  /** Every target of a run, by batch, hostname, node id. */
  listRunTargets(runId: string): Promise<RunTargetRecord[]>;
  /**
   * One tick of progress in one transaction (hot path: 10,000 targets means one write per tick, not
   * one per target). Runs and targets are whole rows, inserted or replaced; output chunks already
   * stored under the same (run, node, stream, chunk) are skipped. Returns how many chunks were new.
   */
  saveRunProgress(progress: RunProgress): Promise<number>;
  /** Output chunks in arrival order after the `after` cursor (exclusive). */
  listRunOutput(query: ListRunOutputQuery): Promise<RunOutputRecord[]>;
}
