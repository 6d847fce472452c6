import type { RolloutHostState, RolloutPlan, RolloutState, RolloutStepView, SignedRollout } from '@gpufleet/protocol';

/**
 * Rollouts (issue 14, 0013_rollouts): record types and the RolloutStore interface. Times are
 * epoch milliseconds. The store keeps everything the rollout loop needs to pick up where it was
 * after a restart or on another replica: the signed rollout, the steps and every host's place.
 */

/** One step (canary, then each wave) as stored. */
export interface RolloutStepRecord {
  name: string;
  hosts: number;
  state: RolloutStepView['state'];
  startedAt: number | null;
  /** When every host of the step was last seen healthy together (healthy-for counts from here); null unless settling. */
  settlingSince: number | null;
  doneAt: number | null;
}

export interface RolloutRecord {
  id: string;
  kind: 'agent' | 'bundle';
  name: string;
  version: string;
  targetPath: string;
  targetSha256: string;
  selector: string;
  plan: RolloutPlan;
  /** The operator's signed rollout, verbatim: every apply frame carries it. */
  signed: SignedRollout;
  state: RolloutState;
  step: number;
  steps: RolloutStepRecord[];
  /** Failed hosts an operator accepted by resuming after a pause for failures (they no longer count against maxFailures). */
  forgivenFailures: number;
  message: string | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

/** none; by-host: the host reported failed with the old version back; sent: the server sent a rollback frame. */
export type RolloutHostRollback = 'none' | 'by-host' | 'sent';

export interface RolloutHostRecord {
  rolloutId: string;
  nodeId: string;
  hostname: string;
  step: number;
  /** Order within the rollout (the deterministic order hosts were split by). */
  position: number;
  state: RolloutHostState;
  fromVersion: string | null;
  runningVersion: string | null;
  healthySince: number | null;
  /** When the host first reported failed or refused; it counts as a failure from then on. */
  failedAt: number | null;
  rollback: RolloutHostRollback;
  message: string | null;
  updatedAt: number;
}

/** The fields of a host that change after it is stored. */
export type RolloutHostPatch = Partial<
  Pick<RolloutHostRecord, 'state' | 'fromVersion' | 'runningVersion' | 'healthySince' | 'failedAt' | 'rollback' | 'message' | 'updatedAt'>
>;

/** The fields of a rollout that change after it is stored. */
export type RolloutPatch = Partial<Pick<RolloutRecord, 'state' | 'step' | 'steps' | 'forgivenFailures' | 'message' | 'updatedAt'>>;

/** A step change, a host failure or an operator's action, as the rollout's history keeps it. */
export interface RolloutEventRecord {
  id: number;
  rolloutId: string;
  at: number;
  kind: string;
  nodeId: string | null;
  message: string;
}

export type RolloutEventInput = Omit<RolloutEventRecord, 'id'>;

export interface RolloutStore {
  /** Stores a new rollout with its hosts in one transaction; already_exists when the id is taken. */
  insertRollout(rollout: RolloutRecord, hosts: ReadonlyArray<RolloutHostRecord>): Promise<void>;
  getRollout(id: string): Promise<RolloutRecord | undefined>;
  /** Newest first; only these states when given. */
  listRollouts(query?: { states?: ReadonlyArray<RolloutState>; limit?: number }): Promise<RolloutRecord[]>;
  /** Changes a rollout's mutable fields; not_found when there is no such rollout. */
  updateRollout(id: string, patch: RolloutPatch): Promise<void>;
  /** A rollout's hosts by position. */
  listRolloutHosts(rolloutId: string): Promise<RolloutHostRecord[]>;
  /** Changes hosts of one rollout in one transaction (only the fields given). */
  updateRolloutHosts(rolloutId: string, changes: ReadonlyArray<{ nodeId: string; patch: RolloutHostPatch }>): Promise<void>;
  /** Every rollout host of this node in these states (across rollouts), to act when the node comes back. */
  rolloutHostsOfNode(nodeId: string, states: ReadonlyArray<RolloutHostState>): Promise<RolloutHostRecord[]>;
  appendRolloutEvents(events: ReadonlyArray<RolloutEventInput>): Promise<void>;
  /** Oldest first, after the given id. */
  listRolloutEvents(rolloutId: string, after?: number, limit?: number): Promise<RolloutEventRecord[]>;
}
