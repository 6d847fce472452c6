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
}

export type PlayPatch = Partial<Pick<PlayRecord, 'state' | 'startedAt' | 'endedAt' | 'exitCode' | 'error'>>;

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
  listPlayHosts(playId: string): Promise<PlayHostRecord[]>;
  /** Replaces a host's counts and state. */
  updatePlayHost(host: PlayHostRecord): Promise<void>;
  /** Appends events (seq is the caller's, increasing per play); a seq stored already is skipped. */
  appendPlayEvents(events: ReadonlyArray<PlayEventRecord>): Promise<void>;
  /** Events with seq > after, ascending, at most limit (default 1000). */
  listPlayEvents(playId: string, after: number, limit?: number): Promise<PlayEventRecord[]>;
}
