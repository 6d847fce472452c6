import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { FleetError, SilenceMatcher, type SilenceView } from '@gpufleet/protocol';
import type { Store } from '../store/store.js';
import type { AlertLogger } from './logger.js';

/** A silence: alerts whose labels match every matcher notify nobody until endsAt. */
export interface Silence {
  id: string;
  matchers: SilenceMatcher[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  /** Its copies in Alertmanager receivers, by receiver name (see AlertmanagerSilenceSync). */
  mirrors?: Record<string, SilenceMirror>;
}

/** A silence's copy in one Alertmanager: its id there and the end it was given. */
export interface SilenceMirror {
  id: string;
  endsAt: number;
}

const StoredSilence = z.object({
  id: z.string().min(1),
  matchers: z.array(SilenceMatcher).min(1),
  startsAt: z.number(),
  endsAt: z.number(),
  createdBy: z.string(),
  comment: z.string(),
  mirrors: z.record(z.string(), z.object({ id: z.string().min(1), endsAt: z.number() })).optional(),
});

/** The store setting that holds every silence as one JSON array. */
export const SILENCES_SETTING = 'alerts.silences';

export interface SilenceBookOptions {
  settings?: Pick<Store, 'getSetting' | 'setSetting'>;
  log?: AlertLogger;
  /** Expired silences stay listed this long, then are forgotten. Default 24 h. */
  expiredRetentionMs?: number;
  /** Active silences at most. Default 1,000. */
  maxActive?: number;
}

export function matchesSilence(s: Silence, labels: Readonly<Record<string, string>>): boolean {
  for (const m of s.matchers) {
    const equal = labels[m.name] === m.value;
    if ((m.op ?? '=') === '=' ? !equal : equal) return false;
  }
  return true;
}

/**
 * Silences, kept in memory and persisted as one JSON setting in the store: there are few of
 * them (operators make them by hand) and they must survive a restart. Writes are chained so
 * an older list can never overwrite a newer one.
 */
export class SilenceBook {
  private silences: Silence[] = [];
  private writes: Promise<void> = Promise.resolve();
  private readonly retentionMs: number;
  private readonly maxActive: number;

  constructor(private readonly opts: SilenceBookOptions = {}) {
    this.retentionMs = opts.expiredRetentionMs ?? 86_400_000;
    this.maxActive = opts.maxActive ?? 1000;
  }

  /** Reads the stored silences; a damaged entry is skipped with a warning, never fatal. */
  async load(): Promise<void> {
    const text = await this.opts.settings?.getSetting(SILENCES_SETTING);
    if (text === undefined) return;
    let list: unknown;
    try {
      list = JSON.parse(text);
    } catch {
      this.opts.log?.warn({ setting: SILENCES_SETTING }, 'stored alert silences are not JSON; starting without them');
      return;
    }
    this.silences = [];
    for (const item of Array.isArray(list) ? list : []) {
      const parsed = StoredSilence.safeParse(item);
      if (parsed.success) this.silences.push(parsed.data);
      else this.opts.log?.warn({ setting: SILENCES_SETTING }, 'skipping a damaged stored alert silence');
    }
  }

  private persist(): Promise<void> {
    const settings = this.opts.settings;
    if (!settings) return Promise.resolve();
    const text = JSON.stringify(this.silences);
    this.writes = this.writes.catch(() => undefined).then(() => settings.setSetting(SILENCES_SETTING, text));
    return this.writes;
  }

  isActive(s: Silence, now: number): boolean {
    return s.startsAt <= now && now < s.endsAt;
  }

  async create(input: { matchers: SilenceMatcher[]; endsAt: number; comment: string; createdBy: string }, now: number): Promise<Silence> {
    if (!(input.endsAt > now)) throw new FleetError('invalid_argument', 'the silence would end in the past: give a later endsAt or a positive duration');
    if (input.endsAt - now > 365 * 86_400_000) throw new FleetError('invalid_argument', 'a silence may last at most 365d');
    if (this.silences.filter((s) => this.isActive(s, now)).length >= this.maxActive) {
      throw new FleetError('failed_precondition', `there are already ${this.maxActive} active silences; expire some first`);
    }
    const silence: Silence = {
      id: `sil_${randomBytes(8).toString('hex')}`,
      matchers: input.matchers.map((m) => ({ name: m.name, value: m.value, op: m.op ?? '=' })),
      startsAt: now,
      endsAt: input.endsAt,
      createdBy: input.createdBy,
      comment: input.comment,
    };
    this.silences.push(silence);
    try {
      await this.persist();
    } catch (err) {
      // Not stored means not made: the caller hears of the failure and nothing half-exists.
      this.silences = this.silences.filter((s) => s !== silence);
      throw err;
    }
    return silence;
  }

  /** Ends a silence now (it stays listed as expired). */
  async expire(id: string, now: number): Promise<Silence> {
    const s = this.silences.find((x) => x.id === id);
    if (!s) throw new FleetError('not_found', `no silence '${id}' (see gpufleet alerts silences)`);
    if (!this.isActive(s, now)) throw new FleetError('failed_precondition', `silence ${id} has already expired`);
    const endsAt = s.endsAt;
    s.endsAt = now;
    try {
      await this.persist();
    } catch (err) {
      s.endsAt = endsAt;
      throw err;
    }
    return s;
  }

  /** Records (or, with null, forgets) the copy of silence `id` in receiver `receiver`, and stores it. */
  async setMirror(id: string, receiver: string, mirror: SilenceMirror | null): Promise<void> {
    const s = this.silences.find((x) => x.id === id);
    if (!s) return;
    const mirrors = { ...s.mirrors };
    if (mirror === null) delete mirrors[receiver];
    else mirrors[receiver] = mirror;
    s.mirrors = mirrors;
    await this.persist();
  }

  get(id: string): Silence | undefined {
    return this.silences.find((x) => x.id === id);
  }

  /** Ids of the active silences whose matchers all match these labels. */
  matching(labels: Readonly<Record<string, string>>, now: number): readonly string[] {
    let out: string[] | null = null;
    for (const s of this.silences) {
      if (this.isActive(s, now) && matchesSilence(s, labels)) (out ??= []).push(s.id);
    }
    return out ?? NONE;
  }

  /** Forgets silences expired longer ago than the retention; true when any went. */
  prune(now: number): boolean {
    // Called on every evaluation: look before allocating a new list.
    let stale = false;
    for (const s of this.silences) if (now - s.endsAt >= this.retentionMs) stale = true;
    if (!stale) return false;
    const before = this.silences.length;
    this.silences = this.silences.filter((s) => now - s.endsAt < this.retentionMs);
    if (this.silences.length === before) return false;
    void this.persist().catch((err) => this.opts.log?.warn({ err }, 'could not store alert silences'));
    return true;
  }

  list(now: number): Silence[] {
    return [...this.silences].sort((a, b) => Number(this.isActive(b, now)) - Number(this.isActive(a, now)) || b.startsAt - a.startsAt);
  }

  activeCount(now: number): number {
    let n = 0;
    for (const s of this.silences) if (this.isActive(s, now)) n++;
    return n;
  }

  view(s: Silence, now: number): SilenceView {
    return {
      id: s.id,
      matchers: s.matchers,
      startsAt: new Date(s.startsAt).toISOString(),
      endsAt: new Date(s.endsAt).toISOString(),
      createdBy: s.createdBy,
      comment: s.comment,
      state: this.isActive(s, now) ? 'active' : 'expired',
    };
  }

  /** Resolves when every write so far is stored (tests, shutdown). */
  flushed(): Promise<void> {
    return this.writes.catch(() => undefined);
  }
}

const NONE: readonly string[] = Object.freeze([]);
