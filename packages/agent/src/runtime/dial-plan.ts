import { FleetError } from '@gpufleet/protocol';

export interface BackoffOptions {
  /** First retry waits up to this long. Default 500 ms. */
  baseMs?: number;
  /** No retry waits longer. Default 30 s. */
  capMs?: number;
}

/** Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt: number, random: () => number, baseMs = 500, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** `http://h:1/x/` -> `ws://h:1/x/v1/agent`. */
export function agentSocketUrl(serverUrl: string): string {
  const url = new URL(serverUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/agent`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * Which control-plane replica the link dials next, and after how long. A dial that got no
 * welcome moves on to the next URL (round-robin); a welcome makes the link stick to its URL and
 * resets the backoff, so a live session that drops tries the same URL once, soon, before moving
 * on. Every attempt waits a full-jitter exponential backoff.
 */
export class DialPlan {
  private urls: string[];
  private index = 0;
  private attempt = 0;

  constructor(
    urls: readonly string[],
    private readonly random: () => number,
    private readonly backoff: BackoffOptions = {},
  ) {
    if (urls.length === 0) throw new FleetError('invalid_argument', 'the agent link needs at least one server URL');
    this.urls = [...new Set(urls)];
  }

  /** The URL the next dial goes to. */
  get current(): string {
    return this.urls[this.index]!;
  }

  /** Every replica URL, in the order they are tried from the start. */
  get list(): string[] {
    return [...this.urls];
  }

  /** A session was welcomed: stay on this URL, and the next failure starts the backoff afresh. */
  welcomed(): void {
    this.attempt = 0;
  }

  /**
   * A socket closed (or a dial failed). Moves on to the next replica unless the session was live,
   * and returns how long to wait before the next dial.
   */
  afterClose(wasLive: boolean): number {
    if (!wasLive) this.index = (this.index + 1) % this.urls.length;
    return backoffDelay(this.attempt++, this.random, this.backoff.baseMs, this.backoff.capMs);
  }

  /**
   * Takes the server's current list. `inUse` (the replica this session talks to) goes first when
   * the list has it, so a reconnect tries it again before any other; when the list does not, the
   * list's own first is next. Returns whether the list changed.
   */
  replace(urls: readonly string[], inUse: string): boolean {
    const unique = [...new Set(urls)];
    if (unique.length === 0) return false;
    const next = unique.includes(inUse) ? [inUse, ...unique.filter((u) => u !== inUse)] : unique;
    const changed = next.length !== this.urls.length || next.some((u, i) => u !== this.urls[i]);
    this.urls = next;
    this.index = 0;
    return changed;
  }
}
