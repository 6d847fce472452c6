import { openChain, probeHostKey, type SshConnectTimeouts } from './ssh-client-open.js';
import { describeHost } from './ssh-errors.js';
import { ExecBudget } from './ssh-exec-budget.js';
import { PooledConnection } from './ssh-pooled-connection.js';
import { type SshEndpoint, type SshExecOptions, type SshExecResult, SshFailure, type SshHostKey, type SshTransport } from './ssh-transport.js';

export interface SshPoolOptions {
  /** Connections open (or opening) at once, all hosts together; idle ones are closed first (least recently used), else callers wait. */
  maxConnections?: number;
  /** Connect, check the host key and log in within this (per hop, a jump host's too). */
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives in a row that drop a connection. */
  keepaliveCountMax?: number;
  /** Commands at once on one connection (sshd's MaxSessions is 10); more wait for a channel. */
  maxChannelsPerConnection?: number;
  /** A connection with no command for this long is closed. */
  idleCloseMs?: number;
}

interface PoolEntry {
  key: string;
  name: string;
  conn: PooledConnection | null;
  opening: Promise<PooledConnection> | null;
  idleTimer: NodeJS.Timeout | null;
  /** Commands given this connection and not finished (waiting for it to open, for a channel, or running): it is not idle. */
  users: number;
  /** forget()/close() came while it was opening: close it as soon as it is open. */
  forgotten: boolean;
}

/** One connection per host and route: its name, login target and jump host. */
function poolKey(e: SshEndpoint): string {
  const via = e.bastion ? ` via ${e.bastion.user}@${e.bastion.address}:${e.bastion.port}` : '';
  return `${e.name} ${e.user}@${e.address}:${e.port}${via}`;
}

/**
 * The SSH transport: a connection per host, opened on first use and reused by every command
 * after it (concurrent first commands share one attempt), closed when idle or dropped, at most
 * `maxConnections` at once. Host keys are checked before any login (ssh-client-open.ts).
 */
export class SshPool implements SshTransport {
  private readonly entries = new Map<string, PoolEntry>();
  private slotChange: { promise: Promise<void>; wake: () => void } | null = null;
  private readonly maxConnections: number;
  private readonly maxChannels: number;
  private readonly idleCloseMs: number;
  private readonly timeouts: SshConnectTimeouts;

  constructor(options: SshPoolOptions = {}) {
    this.maxConnections = options.maxConnections ?? 256;
    this.maxChannels = options.maxChannelsPerConnection ?? 8;
    this.idleCloseMs = options.idleCloseMs ?? 60_000;
    this.timeouts = {
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? 15_000,
      keepaliveCountMax: options.keepaliveCountMax ?? 3,
    };
  }

  /** Connections open or opening now (for tests and the benchmark). */
  get connectionCount(): number {
    return this.entries.size;
  }

  async exec(endpoint: SshEndpoint, command: string, options: SshExecOptions): Promise<SshExecResult> {
    const where = describeHost(endpoint.name, endpoint.user, endpoint.address, endpoint.port);
    const budget = new ExecBudget(where, options.timeoutMs, options.signal);
    let entry: PoolEntry | null = null;
    try {
      const got = await this.connection(endpoint, budget);
      entry = got.entry;
      const conn = await budget.race(got.conn);
      return await conn.exec(command, options, budget, where);
    } finally {
      budget.dispose();
      if (entry) this.release(entry);
    }
  }

  async probe(endpoint: SshEndpoint, timeoutMs: number): Promise<SshHostKey> {
    const open = this.entries.get(poolKey(endpoint))?.conn;
    if (open && !open.closed) return open.hostKey;
    const where = describeHost(endpoint.name, endpoint.user, endpoint.address, endpoint.port);
    const budget = new ExecBudget(where, timeoutMs);
    try {
      return await budget.race(probeHostKey(endpoint, { ...this.timeouts, connectTimeoutMs: timeoutMs }));
    } catch (err) {
      // The budget's failure speaks of "the command"; a probe has none.
      if (err instanceof SshFailure && err.kind === 'timeout' && err === budget.signal.reason) {
        throw new SshFailure('timeout', `${where}: no host key within ${timeoutMs} ms`);
      }
      throw err;
    } finally {
      budget.dispose();
    }
  }

  forget(name: string): void {
    for (const [key, entry] of this.entries) if (entry.name === name) this.drop(key, entry);
  }

  async close(): Promise<void> {
    const opening = [...this.entries.values()].flatMap((e) => (e.opening ? [e.opening.catch(() => undefined)] : []));
    for (const [key, entry] of this.entries) this.drop(key, entry);
    await Promise.all(opening);
  }

  /** The open connection, the attempt in flight, or a new one once a slot is free. */
  private async connection(endpoint: SshEndpoint, budget: ExecBudget): Promise<{ entry: PoolEntry; conn: Promise<PooledConnection> }> {
    for (;;) {
      const got = this.tryConnection(endpoint);
      if (got) return got;
      await budget.race(this.nextSlotChange());
    }
  }

  /** A command is done with its connection: the last one starts the idle timer. */
  private release(entry: PoolEntry): void {
    entry.users--;
    if (entry.users === 0 && this.entries.get(entry.key) === entry) this.startIdleTimer(entry.key, entry);
  }

  /** Synchronous, so that checking for a free slot and taking it cannot interleave with another caller. */
  private tryConnection(endpoint: SshEndpoint): { entry: PoolEntry; conn: Promise<PooledConnection> } | null {
    const key = poolKey(endpoint);
    const entry = this.entries.get(key);
    if (entry?.conn && !entry.conn.closed) {
      if (entry.idleTimer) clearTimeout(entry.idleTimer);
      entry.idleTimer = null;
      entry.users++;
      return { entry, conn: Promise.resolve(entry.conn) };
    }
    if (entry?.opening) {
      entry.users++;
      return { entry, conn: entry.opening };
    }
    if (entry) this.drop(key, entry);
    if (this.entries.size >= this.maxConnections && !this.evictIdle()) return null;
    const opened = this.open(key, endpoint);
    opened.entry.users++;
    return opened;
  }

  private open(key: string, endpoint: SshEndpoint): { entry: PoolEntry; conn: Promise<PooledConnection> } {
    const entry: PoolEntry = { key, name: endpoint.name, conn: null, opening: null, idleTimer: null, users: 0, forgotten: false };
    entry.opening = openChain(endpoint, this.timeouts).then(
      (chain) => {
        const conn = new PooledConnection(chain, this.maxChannels, () => {
          if (this.entries.get(key) === entry) this.drop(key, entry);
        });
        entry.conn = conn;
        entry.opening = null;
        if (entry.forgotten) conn.close();
        // A connection opened for nobody (its callers gave up) still closes when idle.
        this.startIdleTimer(key, entry);
        return conn;
      },
      (err: unknown) => {
        if (this.entries.get(key) === entry) this.drop(key, entry);
        throw err;
      },
    );
    // The callers see the failure; this copy only keeps it from being unhandled.
    entry.opening.catch(() => undefined);
    this.entries.set(key, entry);
    return { entry, conn: entry.opening };
  }

  private startIdleTimer(key: string, entry: PoolEntry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
    if (!entry.conn || entry.users > 0) return;
    entry.idleTimer = setTimeout(() => {
      if (this.entries.get(key) === entry && entry.users === 0) this.drop(key, entry);
    }, this.idleCloseMs);
    entry.idleTimer.unref();
    // An idle connection may be given away to a caller waiting for a slot.
    this.wakeSlotWaiters();
  }

  /** Closes the least recently used idle connection; false when every connection is busy or opening. */
  private evictIdle(): boolean {
    let lru: [string, PoolEntry] | null = null;
    for (const pair of this.entries) {
      const conn = pair[1].conn;
      if (!conn || pair[1].users > 0) continue;
      if (!lru || conn.lastUsedAt < lru[1].conn!.lastUsedAt) lru = pair;
    }
    if (!lru) return false;
    this.drop(lru[0], lru[1]);
    return true;
  }

  private drop(key: string, entry: PoolEntry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
    if (entry.conn) entry.conn.close();
    else entry.forgotten = true;
    if (this.entries.get(key) === entry) this.entries.delete(key);
    this.wakeSlotWaiters();
  }

  private nextSlotChange(): Promise<void> {
    if (!this.slotChange) {
      let wake!: () => void;
      const promise = new Promise<void>((res) => {
        wake = res;
      });
      this.slotChange = { promise, wake };
    }
    return this.slotChange.promise;
  }

  private wakeSlotWaiters(): void {
    const change = this.slotChange;
    this.slotChange = null;
    change?.wake();
  }
}
