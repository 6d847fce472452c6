import type { ReceiverConfig } from './alert-rules.js';
import type { AlertLogger } from './logger.js';
import type { Silence, SilenceBook } from './silences.js';

/**
 * Copies gpufleet silences into Alertmanager (API v2) so that a silenced alert can keep being
 * sent there. Without the copy, gpufleet would have to stop re-sending a silenced alert, and
 * Alertmanager, hearing nothing before the alert's endsAt, would show it resolved (and send
 * "resolved" to everyone) while the fault is still there.
 *
 * - An active silence without a copy in an Alertmanager receiver is POSTed to
 *   `/api/v2/silences`; the id Alertmanager returns is stored with the silence, so a restart
 *   neither loses nor duplicates copies. A failed POST is retried with backoff (forever: until
 *   it is there, alerts it covers that Alertmanager has not yet heard of are held back).
 * - A silence expired early in gpufleet is expired there too (`DELETE /api/v2/silence/{id}`);
 *   one that simply runs out needs nothing, as the copy carries the same end.
 *
 * `sync` is cheap when nothing is due (the engine calls it on every evaluation).
 */
export class AlertmanagerSilenceSync {
  private readonly receivers: readonly ReceiverConfig[];
  private readonly inFlight = new Set<string>();
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly deps: {
      receivers: readonly ReceiverConfig[];
      silences: SilenceBook;
      fetch: typeof fetch;
      log?: AlertLogger;
      /** 0..1, for backoff jitter. */
      random: () => number;
    },
  ) {
    this.receivers = deps.receivers.filter((r) => r.type === 'alertmanager');
  }

  /** Whether every one of these silences has its copy in this receiver (true for non-Alertmanager receivers: nothing to copy). */
  mirrored(receiver: string, silenceIds: readonly string[]): boolean {
    if (!this.receivers.some((r) => r.name === receiver)) return false;
    for (const id of silenceIds) if (this.deps.silences.get(id)?.mirrors?.[receiver] === undefined) return false;
    return true;
  }

  /** Starts whatever copying or expiring is due; returns at once. */
  sync(now: number): void {
    if (this.stopped || this.receivers.length === 0) return;
    for (const s of this.deps.silences.list(now)) {
      const active = this.deps.silences.isActive(s, now);
      for (const r of this.receivers) {
        const mirror = s.mirrors?.[r.name];
        if (active && mirror === undefined) this.start(r, s, 'post', now);
        else if (!active && mirror !== undefined && s.endsAt < mirror.endsAt) this.start(r, s, 'expire', now);
      }
    }
  }

  private start(r: ReceiverConfig, s: Silence, op: 'post' | 'expire', now: number): void {
    const key = `${r.name}\0${s.id}\0${op}`;
    const failed = this.failures.get(key);
    if (this.inFlight.has(key) || (failed !== undefined && now < failed.retryAt)) return;
    this.inFlight.add(key);
    const job: Promise<void> = (op === 'post' ? this.post(r, s) : this.expire(r, s))
      .then(() => {
        this.failures.delete(key);
      })
      .catch((err: Error) => {
        const count = (failed?.count ?? 0) + 1;
        const base = Math.min(r.maxBackoffMs, r.initialBackoffMs * 2 ** (count - 1));
        this.failures.set(key, { count, retryAt: now + Math.round(base / 2 + this.deps.random() * (base / 2)) });
        this.deps.log?.warn({ receiver: r.name, silence: s.id, op, attempts: count, error: err.message }, 'could not copy an alert silence to Alertmanager');
        // An early end that Alertmanager keeps refusing ends by itself at the old endsAt: stop trying.
        if (op === 'expire' && count >= r.attempts) return this.deps.silences.setMirror(s.id, r.name, null);
      })
      .catch(() => undefined)
      .finally(() => {
        this.inFlight.delete(key);
        this.running.delete(job);
      });
    this.running.add(job);
  }

  private async post(r: ReceiverConfig, s: Silence): Promise<void> {
    const res = await this.request(r, `${apiBase(r.url)}/silences`, 'POST', JSON.stringify(postableSilence(s)));
    const body = (await res.json().catch(() => null)) as { silenceID?: unknown } | null;
    if (typeof body?.silenceID !== 'string' || body.silenceID === '') throw new Error('Alertmanager answered without a silenceID');
    // Expired meanwhile: the copy is recorded with the end it was given, so the next sync expires it.
    await this.deps.silences.setMirror(s.id, r.name, { id: body.silenceID, endsAt: s.endsAt });
  }

  private async expire(r: ReceiverConfig, s: Silence): Promise<void> {
    const mirror = s.mirrors?.[r.name];
    if (mirror === undefined) return;
    const res = await this.request(r, `${apiBase(r.url)}/silence/${encodeURIComponent(mirror.id)}`, 'DELETE', null, [404]);
    await res.body?.cancel().catch(() => undefined);
    await this.deps.silences.setMirror(s.id, r.name, { id: mirror.id, endsAt: s.endsAt });
  }

  private async request(r: ReceiverConfig, url: string, method: string, body: string | null, okStatuses: number[] = []): Promise<Response> {
    const res = await this.deps.fetch(url, {
      method,
      headers: { ...(body === null ? {} : { 'content-type': 'application/json' }), 'user-agent': 'gpufleet-alerts', ...r.headers },
      body,
      signal: AbortSignal.timeout(r.timeoutMs),
    });
    if (!res.ok && !okStatuses.includes(res.status)) {
      const text = await res.text().catch(() => '');
      throw new Error(`HTTP ${res.status}${text ? `: ${text.slice(0, 200).trim()}` : ''}`);
    }
    return res;
  }

  /** Resolves once nothing is in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Starts nothing more and waits for what is in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }
}

/** `http://am:9093` or `http://am:9093/api/v2/alerts` -> `http://am:9093/api/v2`. */
export function apiBase(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return `${trimmed.endsWith('/api/v2/alerts') ? trimmed.slice(0, -'/alerts'.length) : `${trimmed}/api/v2`}`;
}

/**
 * Alertmanager's postable silence. Alertmanager refuses a silence whose every matcher matches
 * an empty label (only `!=` matchers); `alertname=~".+"` is then added, which every alert
 * matches, so the silence means the same there as here.
 */
export function postableSilence(s: Silence): Record<string, unknown> {
  const matchers = s.matchers.map((m) => ({ name: m.name, value: m.value, isRegex: false, isEqual: (m.op ?? '=') === '=' }));
  if (!matchers.some((m) => m.isEqual)) matchers.push({ name: 'alertname', value: '.+', isRegex: true, isEqual: true });
  return {
    matchers,
    startsAt: new Date(s.startsAt).toISOString(),
    endsAt: new Date(s.endsAt).toISOString(),
    createdBy: s.createdBy || 'gpufleet',
    comment: `${s.comment || 'gpufleet silence'} (gpufleet ${s.id})`,
  };
}
