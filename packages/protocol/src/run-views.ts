import type { RunTargetState } from './remote-ops.js';

/** Overall state of a run: running until every target is final, then what the targets add up to. */
export const RUN_STATES = ['running', 'succeeded', 'failed', 'partial', 'canceled'] as const;
export type RunState = (typeof RUN_STATES)[number];

/** Streams of stored run output; `truncated` is the marker that a host's output hit the cap. */
export const RUN_OUTPUT_STREAMS = ['stdout', 'stderr', 'truncated'] as const;
export type RunOutputStream = (typeof RUN_OUTPUT_STREAMS)[number];

/** REST shape of one host of a run (times ISO 8601). */
export interface RunTargetView {
  nodeId: string;
  hostname: string;
  batch: number;
  state: RunTargetState;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  sentAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  outputBytes: number;
  truncated: boolean;
}

/** What the command asks for, without the signature and the capability chain. */
export interface RunCommandView {
  kind: string;
  summary: string;
  timeoutMs: number;
  cwd: string | null;
  runAs: string | null;
  /** Names only: values may be secrets. */
  env: string[];
  issuedAt: string;
  /** The command's nonce: a signed cancel names it (absent in views from older servers). */
  nonce?: string;
}

/** REST shape of a run; `targets` only on GET /api/v1/runs/{id}. */
export interface RunView {
  id: string;
  state: RunState;
  createdBy: string;
  invoker: string;
  capabilityId: string | null;
  ability: string;
  selector: string;
  command: RunCommandView;
  batch: unknown;
  reason: string | null;
  canceledBy: string | null;
  createdAt: string;
  finishedAt: string | null;
  deadline: string;
  total: number;
  counts: Partial<Record<RunTargetState, number>>;
  targets?: RunTargetView[];
}

export interface RunOutputView {
  id: number;
  nodeId: string;
  stream: RunOutputStream;
  chunk: number;
  data: string;
  at: string;
}
