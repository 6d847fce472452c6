import type { RunTargetState } from '@gpufleet/protocol';

/** The REST shapes of runs come from the protocol package; the server writes them (runs/run-views.ts). */
export type { RunTargetView, RunView } from '@gpufleet/protocol';
import type { RunView } from '@gpufleet/protocol';

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
