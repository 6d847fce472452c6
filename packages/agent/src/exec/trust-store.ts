import {
  applyRootsUpdates,
  cancelApplies,
  createRevocationIndex,
  DEFAULT_SKEW_MS,
  verifyRevocation,
  type CancelPayload,
  type CommandPayload,
  type Revocation,
  type RevocationIndex,
  type RootsUpdate,
  type Labels,
} from '@gpufleet/protocol';
import { systemClock, type Clock } from '../runtime/clock.js';
import { silentLogger, type Logger } from '../runtime/logger.js';
import type { AgentStateStore, StoredRunOutcome, TrustRecord } from '../runtime/state.js';
import { AttestedLabels, type HostLabelView } from './attested-labels.js';

/** A command this host accepted: remembered (with its nonce) so it never runs twice. */
export interface RunEntry {
  runId: string;
  nonce: string;
  /** The command's signature: a re-delivery of the very same command carries the same one. */
  sig: string;
  issuedAt: number;
  /** After this the entry may be forgotten: the command is then too old to verify anyway. */
  expiresAt: number;
  /** When the host accepted it. */
  at: number;
  /** Null while it runs (or when the agent stopped before it finished). */
  outcome: StoredRunOutcome | null;
}

export interface TrustStoreOptions {
  state: AgentStateStore;
  /** The fleet roots from the join token (NodeConfig.roots): version 0 of the root set. */
  joinRoots: readonly string[];
  logger?: Logger;
  clock?: Clock;
  /** Accepted commands remembered at most; the oldest go first. Default 100,000. */
  maxRuns?: number;
  /** A command older than this is refused; its nonce can be forgotten after it. Default 7 days. */
  replayWindowMs?: number;
  /** Clock skew allowed. Default 60 s. */
  skewMs?: number;
  /** Signed cancels remembered at most. Default DEFAULT_MAX_CANCELS. */
  maxCancels?: number;
  /** This host's did:key, which label attestations must name. Default: the node id in the state's config. */
  nodeId?: string;
}

/** What applying a trust frame changed. */
export interface TrustApplied {
  rootsVersion: number;
  rootsChanged: boolean;
  revocationsAdded: number;
  /** Whether a newer label attestation was taken. */
  labelsChanged: boolean;
  /** Why each refused item was ignored. */
  ignored: string[];
}

export const DEFAULT_MAX_RUNS = 100_000;
export const DEFAULT_REPLAY_WINDOW_MS = 7 * 86_400_000;
/** Signed cancels remembered at most; past it the oldest go first (see recordCancel). */
export const DEFAULT_MAX_CANCELS = 10_000;

/**
 * A capability revocation is keyed with its issuer too: one by a non-root key counts only for
 * capabilities that key issued, so it must not shadow a root's revocation of the same id.
 */
function revocationKey(rev: Revocation): string {
  return 'capability' in rev.target ? `cap:${rev.target.capability}:${rev.iss}` : `did:${rev.target.did}`;
}

/**
 * The host's trust state for remote operations, kept in the agent's state store as an
 * append-only log: the fleet roots (from the join token, replaced only by a verified update
 * with a higher version), verified revocations, and every accepted command, recorded before
 * its process starts, with its outcome once known. The accepted commands double as the
 * replay cache of nonces. Entries expire with the replay window; when more than `maxRuns`
 * pile up the oldest go, and the replay horizon moves up to its issue time, so a forgotten
 * command can never be replayed: anything issued at or before the horizon is refused.
 */
export class TrustStore {
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly maxRuns: number;
  readonly replayWindowMs: number;
  readonly skewMs: number;
  private rootSet: { version: number; roots: readonly string[] };
  private readonly revocations = new Map<string, Revocation>();
  /** Verified revocations by scope: a root's or a self-revocation counts everywhere, a capability issuer's only for its own capabilities. */
  private readonly revocationIndex: RevocationIndex = createRevocationIndex();
  /** Every root this host has held: a revocation accepted from one keeps its scope when the log is read again. */
  private readonly everRoots: Set<string>;
  /** The latest verified label attestation for this node. */
  private readonly attested: AttestedLabels;
  private readonly runs = new Map<string, RunEntry>();
  private readonly nonces = new Map<string, string>();
  private horizon = 0;
  /** Signed cancels by `${runId}\0${iss}`, in arrival order; each verified when it arrived. */
  private readonly cancels = new Map<string, CancelPayload>();
  /** Records in the stored log, to know when compaction pays. */
  private logRecords = 0;

  constructor(private readonly o: TrustStoreOptions) {
    this.logger = o.logger ?? silentLogger;
    this.clock = o.clock ?? systemClock;
    this.maxRuns = Math.max(1, o.maxRuns ?? DEFAULT_MAX_RUNS);
    this.replayWindowMs = o.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    this.skewMs = o.skewMs ?? DEFAULT_SKEW_MS;
    this.rootSet = { version: 0, roots: [...o.joinRoots] };
    this.everRoots = new Set(o.joinRoots);
    this.attested = new AttestedLabels(o.nodeId ?? o.state.loadConfig()?.nodeId ?? null);
    const records = o.state.loadTrust();
    this.logRecords = records.length;
    for (const r of records) this.fold(r);
    // The log does not say which runs were forgotten: the bound and the expiry decide again, alike.
    const forgotten: TrustRecord[] = [];
    while (this.runs.size > this.maxRuns) this.forget(this.runs.values().next().value as RunEntry, forgotten);
    if (forgotten.length > 0) this.append(forgotten, false);
    this.prune();
    this.maybeCompact();
  }

  /**
   * The labels selectors are matched against and the keys this host can vouch for: `base`
   * (built-in labels from its own facts, and its join labels) with the latest verified label
   * attestation over it (see AttestedLabels).
   */
  labelView(base: Labels): HostLabelView {
    return this.attested.view(base, { roots: this.rootSet.roots, isRevoked: this.isRevoked });
  }

  /** The version of the label attestation held (0: none). */
  get labelsVersion(): number {
    return this.attested.version;
  }

  /** The fleet roots this host trusts now. */
  get roots(): readonly string[] {
    return this.rootSet.roots;
  }

  /** 0: the roots from the join token; otherwise the version of the update that set them. */
  get rootsVersion(): number {
    return this.rootSet.version;
  }

  /** Commands issued at or before this time are refused: their nonces may have been forgotten. */
  get replayHorizon(): number {
    return this.horizon;
  }

  get runCount(): number {
    return this.runs.size;
  }

  get revocationCount(): number {
    return this.revocations.size;
  }

  /** In the shape verifyCapability wants: a capability id or a DID that was revoked. */
  readonly isRevoked = (capId: string, did: string): boolean => this.revocationIndex.isRevoked(capId, did);

  /** Whether a command with this nonce was accepted before (and is still remembered). */
  readonly seenNonce = (nonce: string): boolean => this.nonces.has(nonce);

  get cancelCount(): number {
    return this.cancels.size;
  }

  /**
   * Remembers a signed cancel (its signature verified by the caller with cancelProblem), durably,
   * until its `until` plus skew: past that the command it names is refused by its own deadline
   * anyway. Who signed it is judged when the command is known (cancelFor): a cancel for a command
   * not seen yet is kept whoever signed it. Bounded: past DEFAULT_MAX_CANCELS the oldest goes,
   * those signed by a fleet root last.
   * Returns false when it was known already or has lapsed.
   */
  recordCancel(cancel: CancelPayload): boolean {
    const key = `${cancel.runId}\0${cancel.iss}`;
    if (this.cancels.has(key) || cancel.until + this.skewMs < this.clock.now()) return false;
    this.pruneCancels();
    while (this.cancels.size >= Math.max(1, this.o.maxCancels ?? DEFAULT_MAX_CANCELS)) this.cancels.delete(this.evictableCancel());
    this.cancels.set(key, cancel);
    this.append([{ t: 'cancel', cancel }], true);
    return true;
  }

  /**
   * The cancel to drop when the store is full: the oldest not signed by a current root (anyone can
   * sign a cancel, so a flood of them must not push out a root's), else the oldest.
   */
  private evictableCancel(): string {
    for (const [key, c] of this.cancels) if (!this.rootSet.roots.includes(c.iss)) return key;
    return this.cancels.keys().next().value as string;
  }

  /** A remembered cancel that stops this command (same run id and nonce, by its invoker or a current root), if any. */
  cancelFor(command: Pick<CommandPayload, 'runId' | 'nonce' | 'invoker'>): CancelPayload | undefined {
    for (const c of this.cancels.values()) if (cancelApplies(c, command, this.rootSet.roots)) return c;
    return undefined;
  }

  run(runId: string): RunEntry | undefined {
    return this.runs.get(runId);
  }

  /** Accepted runs without an outcome: after a restart, the ones the agent lost track of. */
  unfinishedRuns(): RunEntry[] {
    return [...this.runs.values()].filter((r) => r.outcome === null);
  }

  /**
   * Applies a trust frame: root updates in version order, each verified against the roots
   * the previous one left (verifyRootsUpdate), then revocations: by a root or a key revoking
   * itself (verifyRevocation), or a capability revocation validly signed by any other key,
   * which then counts only for capabilities that key issued (createRevocationIndex). Anything
   * that does not verify is ignored and logged.
   */
  applyTrust(body: { roots: readonly RootsUpdate[]; revocations: readonly Revocation[]; labels?: unknown }, base: Labels = {}): TrustApplied {
    const ignored: string[] = [];
    const records: TrustRecord[] = [];
    const before = this.rootSet.version;
    const applied = applyRootsUpdates(this.rootSet, body.roots);
    for (const r of applied.refused) {
      if (!r.verdict.ok) ignored.push(`roots update v${String(r.version)}: ${r.verdict.message}`);
    }
    if (applied.state.version !== before) {
      this.rootSet = { version: applied.state.version, roots: [...applied.state.roots] };
      for (const r of this.rootSet.roots) this.everRoots.add(r);
      records.push({ t: 'roots', version: this.rootSet.version, roots: [...this.rootSet.roots] });
      this.logger.info('fleet roots updated', { version: this.rootSet.version, roots: this.rootSet.roots.length });
    }
    let added = 0;
    for (const rev of body.revocations) {
      const key = revocationKey(rev);
      // The server resends every revocation on each session: known ones cost nothing.
      if (this.revocations.has(key)) continue;
      if (!this.revocationIndex.add(rev, this.rootSet.roots)) {
        const verdict = verifyRevocation(rev, this.rootSet.roots);
        ignored.push(`revocation of ${key}: ${verdict.ok ? 'not accepted' : verdict.message}`);
        continue;
      }
      this.revocations.set(key, rev);
      records.push({ t: 'revocation', revocation: rev });
      added++;
    }
    // Last: the attestation is checked against the roots and revocations this frame brought.
    let labelsChanged = false;
    if (body.labels !== undefined && body.labels !== null) {
      const offer = this.attested.offer(body.labels, {
        roots: this.rootSet.roots,
        now: this.clock.now(),
        skewMs: this.skewMs,
        isRevoked: this.isRevoked,
        base,
      });
      if (offer.taken) {
        labelsChanged = true;
        records.push({ t: 'labels', attestation: this.attested.attestation! });
        this.logger.info('label attestation taken', { version: this.attested.version });
      } else if (offer.why !== null) ignored.push(offer.why);
    }
    if (records.length > 0) this.append(records, true);
    for (const why of ignored) this.logger.warn('ignoring trust material that does not verify', { why });
    return { rootsVersion: this.rootSet.version, rootsChanged: applied.state.version !== before, revocationsAdded: added, labelsChanged, ignored };
  }

  /**
   * Records an accepted command, durably, before anything runs: after a crash it is still
   * known, so neither a restart nor a re-delivery runs it again.
   */
  recordStart(run: { runId: string; nonce: string; sig: string; issuedAt: number; deadline?: number }): RunEntry {
    this.prune();
    const { deadline, ...fields } = run;
    // Kept until the command's own deadline (past it the verifier refuses it anyway), never longer than the window.
    const until = Math.min(deadline ?? Number.POSITIVE_INFINITY, run.issuedAt + this.replayWindowMs);
    const entry: RunEntry = { ...fields, expiresAt: until + this.skewMs, at: this.clock.now(), outcome: null };
    const records: TrustRecord[] = [];
    while (this.runs.size >= this.maxRuns) {
      const oldest = this.runs.values().next().value as RunEntry;
      this.forget(oldest, records);
    }
    this.runs.set(entry.runId, entry);
    this.nonces.set(entry.nonce, entry.runId);
    const { outcome: _o, ...stored } = entry;
    records.push({ t: 'run', ...stored });
    this.append(records, true);
    return entry;
  }

  /** Records how an accepted run ended (durably: a re-delivery re-reports it). */
  recordOutcome(runId: string, outcome: StoredRunOutcome): void {
    const entry = this.runs.get(runId);
    if (!entry) return;
    entry.outcome = outcome;
    this.append([{ t: 'outcome', runId, outcome }], true);
    this.maybeCompact();
  }

  private fold(r: TrustRecord): void {
    switch (r.t) {
      case 'roots':
        if (r.version > this.rootSet.version) this.rootSet = { version: r.version, roots: [...r.roots] };
        for (const d of r.roots) this.everRoots.add(d);
        return;
      case 'revocation':
        this.addRevocation(r.revocation);
        return;
      case 'labels':
        this.attested.restore(r.attestation);
        return;
      case 'run': {
        const { t: _t, ...rest } = r;
        this.runs.set(r.runId, { ...rest, outcome: null });
        this.nonces.set(r.nonce, r.runId);
        return;
      }
      case 'outcome': {
        const entry = this.runs.get(r.runId);
        if (entry) entry.outcome = r.outcome;
        return;
      }
      case 'horizon':
        this.horizon = Math.max(this.horizon, r.issuedAt);
        return;
      case 'cancel':
        this.cancels.set(`${r.cancel.runId}\0${r.cancel.iss}`, r.cancel);
        return;
    }
  }

  /**
   * A revocation read back from the log: it was verified when it arrived. Checked against every
   * root this host has known, so a root's revocation keeps its full scope (a root removed since
   * still signed it while it was one) and an issuer's stays limited to its own capabilities.
   */
  private addRevocation(rev: Revocation): void {
    const roots = [...this.everRoots];
    if (!this.revocationIndex.add(rev, roots) && 'did' in rev.target) {
      // A DID revocation by a root forgotten through compaction: it was verified when it arrived.
      this.revocationIndex.add(rev, [...roots, rev.iss]);
    }
    this.revocations.set(revocationKey(rev), rev);
  }

  /** Drops expired entries (oldest first, as inserted) and moves the horizon over them. */
  private prune(): void {
    const now = this.clock.now();
    const records: TrustRecord[] = [];
    for (const entry of this.runs.values()) {
      if (entry.expiresAt >= now) break;
      // An entry kept only to its command's own deadline needs no horizon: a re-delivery is refused as expired.
      this.forget(entry, records, entry.expiresAt >= entry.issuedAt + this.replayWindowMs);
    }
    if (records.length > 0) this.append(records, false);
    this.pruneCancels();
  }

  /** Drops lapsed cancels from memory; the log loses them at the next compaction. */
  private pruneCancels(): void {
    const now = this.clock.now();
    for (const [key, c] of this.cancels) if (c.until + this.skewMs < now) this.cancels.delete(key);
  }

  private forget(entry: RunEntry, records: TrustRecord[], moveHorizon = true): void {
    this.runs.delete(entry.runId);
    if (this.nonces.get(entry.nonce) === entry.runId) this.nonces.delete(entry.nonce);
    if (moveHorizon && entry.issuedAt > this.horizon) {
      this.horizon = entry.issuedAt;
      records.push({ t: 'horizon', issuedAt: this.horizon });
    }
  }

  private append(records: TrustRecord[], durable: boolean): void {
    this.o.state.appendTrust(records, durable);
    this.logRecords += records.length;
  }

  private liveRecords(): number {
    let n = (this.rootSet.version > 0 ? 1 : 0) + this.revocations.size + (this.horizon > 0 ? 1 : 0) + this.cancels.size + (this.attested.version > 0 ? 1 : 0);
    for (const r of this.runs.values()) n += r.outcome ? 2 : 1;
    return n;
  }

  /** Rewrites the log with only what is live once dead records outnumber live ones (plus slack). */
  private maybeCompact(): void {
    if (this.logRecords <= 2 * this.liveRecords() + 1024) return;
    this.compact();
  }

  /** Rewrites the stored log with only the live state. */
  compact(): void {
    const records: TrustRecord[] = [];
    if (this.rootSet.version > 0) records.push({ t: 'roots', version: this.rootSet.version, roots: [...this.rootSet.roots] });
    if (this.horizon > 0) records.push({ t: 'horizon', issuedAt: this.horizon });
    if (this.attested.attestation) records.push({ t: 'labels', attestation: this.attested.attestation });
    for (const revocation of this.revocations.values()) records.push({ t: 'revocation', revocation });
    this.pruneCancels();
    for (const cancel of this.cancels.values()) records.push({ t: 'cancel', cancel });
    for (const { outcome, ...run } of this.runs.values()) {
      records.push({ t: 'run', ...run });
      if (outcome) records.push({ t: 'outcome', runId: run.runId, outcome });
    }
    this.o.state.replaceTrust(records);
    this.logRecords = records.length;
  }
}
