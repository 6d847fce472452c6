import type { ServerResponse } from 'node:http';

/** How far a reader may fall behind before a stream stops writing to it or closes it. */
export interface SseLimits {
  /**
   * Latest-state streams (the fleet stream): past this many bytes not yet taken by the reader, a
   * tick writes nothing and waits for the socket to drain. Default 1 MiB.
   */
  softLimitBytes: number;
  /** Latest-state streams: a reader that stays past the soft limit this long is closed. Default 60 s. */
  stallTimeoutMs: number;
  /**
   * Streams that must not lose anything (run output, one node's samples) keep writing, and are
   * closed once this many bytes wait for the reader; it reconnects and re-reads over REST. Default 32 MiB.
   */
  hardLimitBytes: number;
  /** A comment line keeps proxies from closing an idle stream. Default 15 s. */
  keepAliveMs: number;
  /** After a close, how long a reader gets to take the final `closing` event before the socket is cut. Default 5 s. */
  closeGraceMs: number;
}

export const DEFAULT_SSE_LIMITS: SseLimits = Object.freeze({
  softLimitBytes: 1024 * 1024,
  stallTimeoutMs: 60_000,
  hardLimitBytes: 32 * 1024 * 1024,
  keepAliveMs: 15_000,
  closeGraceMs: 5_000,
});

/** Fills in the defaults; an unknown or non-positive limit is a programming error. */
export function resolveSseLimits(given: Partial<SseLimits> = {}): SseLimits {
  for (const [key, value] of Object.entries(given)) {
    if (!(key in DEFAULT_SSE_LIMITS)) throw new Error(`unknown SSE limit '${key}'`);
    if (typeof value !== 'number' || !(value > 0)) throw new Error(`SSE limit '${key}' must be a positive number, got ${String(value)}`);
  }
  return { ...DEFAULT_SSE_LIMITS, ...given };
}

const sizeText = (bytes: number) => (bytes >= 2 ** 20 ? `${Math.round(bytes / 2 ** 20)} MiB` : `${Math.round(bytes / 1024)} KiB`);

/**
 * What a stream does about a slow reader. `lossless` (run output, one node's samples): keep
 * writing, close past `hardLimitBytes`. `latest-state` (the fleet stream): the writer checks
 * `buffered` against `softLimitBytes` and waits for `whenDrained`, so what waits is bounded by
 * the soft limit plus one batch, and no hard limit applies.
 */
export type SseKind = 'lossless' | 'latest-state';

/** One Server-Sent Events response. `send` always writes: nothing is dropped here. */
export class SseStream {
  private readonly keepAlive: ReturnType<typeof setInterval>;
  private readonly closeListeners: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private drainPoll: ReturnType<typeof setInterval> | null = null;
  private isClosed = false;

  constructor(
    private readonly res: ServerResponse,
    readonly limits: SseLimits,
    readonly kind: SseKind,
  ) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    this.keepAlive = setInterval(() => this.write(': keep-alive\n\n'), limits.keepAliveMs);
    this.keepAlive.unref();
    const gone = () => this.closed();
    res.on('close', gone);
    res.on('error', gone);
    res.on('drain', () => this.checkDrained());
  }

  /** Bytes written that the reader has not taken yet (ours and the socket's). */
  get buffered(): number {
    return this.res.writableLength;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Runs once, when the reader goes away or the stream is closed. */
  onClose(fn: () => void): void {
    if (this.isClosed) fn();
    else this.closeListeners.push(fn);
  }

  /**
   * Runs `fn` once the socket has taken what was written, down to its high-water mark (at once
   * when it already has). 'drain' comes only after a write the socket refused, so a slow poll
   * backs it up: a waiter is never left hanging.
   */
  whenDrained(fn: () => void): void {
    if (this.isClosed) return;
    if (this.isDrained()) return queueMicrotask(fn);
    this.drainWaiters.push(fn);
    this.drainPoll ??= setInterval(() => this.checkDrained(), 500);
  }

  /** Resolves once the socket has taken what was written (see whenDrained), or the stream closed. */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.isClosed) return resolve();
      this.whenDrained(resolve);
      this.onClose(resolve);
    });
  }

  /**
   * Resolves at once while the reader keeps up (less than `softLimitBytes` waiting), else once the
   * socket has drained: a writer with a lot to send (a run's stored output) goes at the reader's pace.
   */
  ready(): Promise<void> {
    return this.buffered > this.limits.softLimitBytes ? this.drained() : Promise.resolve();
  }

  /**
   * Writes one event. On a lossless stream, past `hardLimitBytes` waiting for the reader, the
   * stream is closed instead of growing without bound: the reader reconnects and re-reads what it
   * missed (a run's stream replays its output on reconnect; a node page refetches).
   */
  send(event: string, data: unknown): void {
    if (this.isClosed) return;
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (this.kind === 'lossless' && this.buffered > this.limits.hardLimitBytes) {
      this.close(`the reader fell more than ${sizeText(this.limits.hardLimitBytes)} behind; reconnect and read what was missed from the REST API`);
    }
  }

  /** Ends the stream normally once everything written has gone out. */
  end(): void {
    if (this.isClosed) return;
    this.res.end();
    this.closed();
  }

  /**
   * Closes the stream with a last `closing` event saying why; a reader that does not take it within
   * `closeGraceMs` (a stalled one) is cut off, so its backlog does not stay in memory.
   */
  close(reason: string): void {
    if (this.isClosed) return;
    this.res.end(`event: closing\ndata: ${JSON.stringify({ reason })}\n\n`);
    const cut = setTimeout(() => this.res.destroy(), this.limits.closeGraceMs);
    cut.unref();
    this.res.once('finish', () => clearTimeout(cut));
    this.closed();
  }

  private isDrained(): boolean {
    return this.buffered <= this.res.writableHighWaterMark;
  }

  private checkDrained(): void {
    if (this.isClosed || !this.isDrained()) return;
    if (this.drainPoll) clearInterval(this.drainPoll);
    this.drainPoll = null;
    for (const fn of this.drainWaiters.splice(0)) fn();
  }

  private write(text: string): void {
    if (!this.isClosed) this.res.write(text);
  }

  private closed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.keepAlive);
    if (this.drainPoll) clearInterval(this.drainPoll);
    this.drainWaiters = [];
    for (const fn of this.closeListeners.splice(0)) fn();
  }
}
