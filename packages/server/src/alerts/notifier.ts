import type { Clock } from '../clock.js';
import type { ReceiverConfig } from './alert-rules.js';
import type { AlertNotice } from './alert-instance.js';
import type { AlertLogger } from './logger.js';
import { alertmanagerBody, alertmanagerUrl, slackBody, webhookBody } from './receiver-formats.js';

/** Counters of one receiver. */
export interface ReceiverStats {
  name: string;
  type: ReceiverConfig['type'];
  /** scheme://host[:port]: the rest of the URL may hold a secret (Slack's does). */
  target: string;
  sent: number;
  /** Gave up: attempts exhausted or a refusal not worth retrying (4xx). */
  failed: number;
  /** Tries that failed and were retried. */
  retried: number;
  /** Dropped from a full queue. */
  dropped: number;
  /** Replaced by a newer message about the same alert before they got through. */
  superseded: number;
  queued: number;
  inFlight: number;
  lastError: string | null;
  lastSuccessAt: number | null;
}

export interface NotifierOptions {
  receivers: readonly ReceiverConfig[];
  clock: Clock;
  log?: AlertLogger;
  /** Injected for tests; default the global fetch. */
  fetch?: typeof fetch;
  /** Waits between tries; resolves early when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** 0..1, for jitter. */
  random?: () => number;
  /** Deliveries waiting per receiver before the oldest are dropped. Default 1,000. */
  maxQueue?: number;
  /** Requests at once per receiver. Default 4. */
  maxInFlight?: number;
}

interface Delivery {
  receiver: ReceiverConfig;
  url: string;
  body: string;
  key: string | null;
  superseded: boolean;
}

interface ReceiverState {
  config: ReceiverConfig;
  queue: Delivery[];
  stats: ReceiverStats;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function targetOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '?';
  }
}

/**
 * Sends notices to receivers with retries: exponential backoff with jitter, bounded tries.
 * Each receiver has its own queue and request slots, and every delivery runs on its own, so
 * a receiver that is down (or slow) never holds up another, nor a later message to itself.
 * A newer message about the same alert supersedes one still waiting to be retried, so a
 * late "firing" retry cannot land after its "resolved".
 */
export class Notifier {
  private readonly receivers = new Map<string, ReceiverState>();
  private readonly latest = new Map<string, Delivery>();
  private readonly abort = new AbortController();
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly maxQueue: number;
  private readonly maxInFlight: number;
  private running = 0;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly opts: NotifierOptions) {
    this.fetchImpl = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? defaultSleep;
    this.random = opts.random ?? Math.random;
    this.maxQueue = opts.maxQueue ?? 1000;
    this.maxInFlight = opts.maxInFlight ?? 4;
    for (const config of opts.receivers) {
      this.receivers.set(config.name, {
        config,
        queue: [],
        stats: {
          name: config.name,
          type: config.type,
          target: targetOf(config.url),
          sent: 0,
          failed: 0,
          retried: 0,
          dropped: 0,
          superseded: 0,
          queued: 0,
          inFlight: 0,
          lastError: null,
          lastSuccessAt: null,
        },
      });
    }
  }

  /**
   * Queues notices for a receiver and returns at once. Webhook and Slack get one request per
   * notice; Alertmanager one request for all. `key` names what the message is about (an
   * alert id, or a resend batch): a newer message with the same key supersedes this one.
   */
  send(receiverName: string, notices: readonly AlertNotice[], key: string | null): void {
    const state = this.receivers.get(receiverName);
    if (!state || this.stopped || notices.length === 0) return;
    const r = state.config;
    if (r.type === 'alertmanager') {
      this.enqueue(state, {
        receiver: r,
        url: alertmanagerUrl(r.url),
        body: alertmanagerBody(notices, this.opts.clock.now(), r.resendIntervalMs),
        key,
        superseded: false,
      });
      return;
    }
    for (const n of notices) {
      const body = r.type === 'slack' ? slackBody(n) : webhookBody(n);
      this.enqueue(state, { receiver: r, url: r.url, body, key: notices.length === 1 ? key : n.id, superseded: false });
    }
  }

  private enqueue(state: ReceiverState, d: Delivery): void {
    if (d.key !== null) {
      const k = `${d.receiver.name}\0${d.key}`;
      const older = this.latest.get(k);
      if (older) older.superseded = true;
      this.latest.set(k, d);
    }
    if (state.queue.length >= this.maxQueue) {
      const dropped = state.queue.shift()!;
      this.forget(dropped);
      state.stats.dropped++;
    }
    state.queue.push(d);
    state.stats.queued = state.queue.length;
    this.pump(state);
  }

  private forget(d: Delivery): void {
    if (d.key === null) return;
    const k = `${d.receiver.name}\0${d.key}`;
    if (this.latest.get(k) === d) this.latest.delete(k);
  }

  private pump(state: ReceiverState): void {
    while (state.stats.inFlight < this.maxInFlight && state.queue.length > 0) {
      const d = state.queue.shift()!;
      state.stats.queued = state.queue.length;
      state.stats.inFlight++;
      this.running++;
      void this.deliver(state, d).finally(() => {
        state.stats.inFlight--;
        this.running--;
        this.forget(d);
        this.pump(state);
        if (this.running === 0 && this.queuedTotal() === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private queuedTotal(): number {
    let n = 0;
    for (const s of this.receivers.values()) n += s.queue.length;
    return n;
  }

  /** Wait before try `attempt + 1`: initial * 2^(attempt-1), capped, with equal jitter (half fixed, half random). */
  backoffMs(r: ReceiverConfig, attempt: number): number {
    const base = Math.min(r.maxBackoffMs, r.initialBackoffMs * 2 ** (attempt - 1));
    return Math.round(base / 2 + this.random() * (base / 2));
  }

  private async deliver(state: ReceiverState, d: Delivery): Promise<void> {
    const r = d.receiver;
    for (let attempt = 1; ; attempt++) {
      if (d.superseded) {
        state.stats.superseded++;
        return;
      }
      if (this.abort.signal.aborted) return;
      const error = await this.post(d);
      if (error === null) {
        state.stats.sent++;
        state.stats.lastSuccessAt = this.opts.clock.now();
        return;
      }
      state.stats.lastError = error.message;
      if (!error.retry || attempt >= r.attempts) {
        state.stats.failed++;
        this.opts.log?.warn({ receiver: r.name, target: state.stats.target, attempts: attempt, error: error.message }, 'alert notification failed');
        return;
      }
      state.stats.retried++;
      await this.sleep(this.backoffMs(r, attempt), this.abort.signal);
    }
  }

  /** One POST; null on success, else why and whether trying again could help. */
  private async post(d: Delivery): Promise<{ message: string; retry: boolean } | null> {
    const r = d.receiver;
    // A timer of our own rather than AbortSignal.any([AbortSignal.timeout(..)]): on Node 20 the
    // combined signal holds its sources weakly, and a collection under load can lose the timeout,
    // leaving a POST to a silent receiver hanging for ever (a CI run hung here; with
    // forced collections every 10 ms, Node 20.20 never aborts such a fetch).
    const attempt = new AbortController();
    const timedOut = new Error(`no answer within ${r.timeoutMs} ms`);
    const timer = setTimeout(() => attempt.abort(timedOut), r.timeoutMs);
    const onStop = () => attempt.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await this.fetchImpl(d.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'gpufleet-alerts', ...r.headers },
        body: d.body,
        signal: attempt.signal,
      });
      // The reply's body is of no use; cancelling frees the connection.
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return null;
      const retry = res.status === 408 || res.status === 429 || res.status >= 500;
      return { message: `HTTP ${res.status}`, retry };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why = attempt.signal.reason === timedOut ? timedOut.message : (e.cause?.code ?? e.message);
      return { message: why, retry: true };
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
    }
  }

  stats(): ReceiverStats[] {
    return [...this.receivers.values()].map((s) => ({ ...s.stats }));
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queuedTotal() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking messages, lets in-flight ones finish for up to `drainMs`, then cancels the rest. */
  async stop(drainMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.receivers.values()) {
      for (const d of s.queue) this.forget(d);
      s.stats.dropped += s.queue.length;
      s.queue.length = 0;
      s.stats.queued = 0;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)))]);
    clearTimeout(timer);
    this.abort.abort();
    await this.idle();
  }
}
