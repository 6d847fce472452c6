/**
 * Playbook templates and plays (issue 12, 0011_plays): record types and the PlayStore interface.
 * Times are epoch milliseconds; JSON fields are plain objects.
 */

export type PlayStateRecord = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED';
export type PlayHostStateRecord = 'pending' | 'running' | 'ok' | 'failed' | 'unreachable';
export type PlayEventKind = 'play' | 'task' | 'host' | 'recap' | 'output' | 'state';
export type PlayEventStatus = 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped';

/** One version of a template: (name, version) is the key; a version never changes once stored. */
export interface TemplateRecord {
  name: string;
  version: number;
  description: string;
  category: string;
  builtin: boolean;
  become: boolean;
  timeoutMs: number;
  vars: Record<string, unknown>;
  playbook: string;
  /** SHA-256 hex of `playbook`, checked again when a play starts. */
  sha256: string;
  createdAt: number;
  createdBy: string;
}

/**
 * The replica instance running a play (0014_play_runners, issue 13): its ansible-playbook runs
 * there and cannot move, so only that instance writes the play's progress, and a survivor ends
 * the plays of one that died. An instance is one process's life: a restart is a new one.
 */
export interface PlayRunner {
  replica: string;
  instance: string;
}

export interface PlayRecord {
  id: string;
  template: string;
  templateVersion: number;
  selector: string;
  serial: string | null;
  maxFailPercentage: number | null;
  check: boolean;
  extraVars: Record<string, unknown>;
  timeoutMs: number;
  state: PlayStateRecord;
  createdBy: string;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  error: string | null;
  reason: string | null;
  /** Null for plays stored before 0014 (a single control plane, long gone). */
  runner: PlayRunner | null;
}

export type PlayPatch = Partial<Pick<PlayRecord, 'state' | 'startedAt' | 'endedAt' | 'exitCode' | 'error'>>;

/** When a conditional patch applies: the play is in one of `states` and its runner is `runnerInstance` (null: none recorded). */
export interface PlayCondition {
  states: readonly PlayStateRecord[];
  runnerInstance: string | null;
}

export interface PlayHostRecord {
  playId: string;
  nodeId: string;
  hostname: string;
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
  state: PlayHostStateRecord;
}

export interface PlayEventRecord {
  playId: string;
  seq: number;
  at: number;
  kind: PlayEventKind;
  host: string | null;
  task: string | null;
  status: PlayEventStatus | null;
  message: string;
}

export interface ListPlaysQuery {
  state?: PlayStateRecord;
  limit?: number; // default 100, newest first
}

export interface PlayStore {
  /** Adds a template version; a (name, version) that exists is already_exists. */
  insertTemplate(template: TemplateRecord): Promise<void>;
  /** One version, or the newest when `version` is absent. */
  getTemplate(name: string, version?: number): Promise<TemplateRecord | undefined>;
  /** The newest version of every template, by name. */
  listTemplates(): Promise<TemplateRecord[]>;
  /** A template's versions, ascending. */
  listTemplateVersions(name: string): Promise<number[]>;

  /** A new play and its hosts (all pending), in one transaction. */
  insertPlay(play: PlayRecord, hosts: ReadonlyArray<PlayHostRecord>): Promise<void>;
  getPlay(id: string): Promise<PlayRecord | undefined>;
  listPlays(query?: ListPlaysQuery): Promise<PlayRecord[]>;
  updatePlay(id: string, patch: PlayPatch): Promise<void>;
  /**
   * Patches a play only while `when` holds, in one statement (a runner's last write and a
   * survivor ending the play as orphaned cannot both land); false when it did not hold,
   * not_found when there is no such play.
   */
  updatePlayWhile(id: string, when: PlayCondition, patch: PlayPatch): Promise<boolean>;
  listPlayHosts(playId: string): Promise<PlayHostRecord[]>;
  /** Replaces a host's counts and state. */
  updatePlayHost(host: PlayHostRecord): Promise<void>;
  /** Appends events (seq is the caller's, increasing per play); a seq stored already is skipped. */
  appendPlayEvents(events: ReadonlyArray<PlayEventRecord>): Promise<void>;
  /** Events with seq > after, ascending, at most limit (default 1000). */
  listPlayEvents(playId: string, after: number, limit?: number): Promise<PlayEventRecord[]>;
}
