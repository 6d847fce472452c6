import type { RunTargetState } from '@gpufleet/protocol';

/**
 * The REST shapes of runs as the CLI reads them (the server's runs/run-views.ts writes them).
 * Only the fields the CLI uses are spelled out.
 */
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

export interface RunView {
  id: string;
  state: 'running' | 'succeeded' | 'failed' | 'partial' | 'canceled';
  createdBy: string;
  invoker: string;
  capabilityId: string | null;
  ability: string;
  selector: string;
  command: { kind: string; summary: string; timeoutMs: number; cwd: string | null; runAs: string | null; env: string[]; issuedAt: string };
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

/** One output chunk (stream `truncated` is the server's marker that the host's output hit the cap). */
export interface RunOutputChunk {
  nodeId: string;
  stream: 'stdout' | 'stderr' | 'truncated';
  chunk: number;
  data: string;
}

/** POST /api/v1/runs answer. */
export interface SubmittedRun {
  id: string;
  state: RunView['state'];
  targets: Array<{ nodeId: string; hostname: string; batch: number; state: RunTargetState }>;
}
