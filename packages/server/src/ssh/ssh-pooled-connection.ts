import type { OpenedChain } from './ssh-client-open.js';
import { execOnChannel } from './ssh-channel-exec.js';
import type { ExecBudget } from './ssh-exec-budget.js';
import type { SshExecOptions, SshExecResult, SshFailure, SshHostKey } from './ssh-transport.js';

/**
 * One open, logged-in connection of the pool. Commands run on channels of their own, at most
 * `maxChannels` at once (sshd refuses more than its MaxSessions, 10 by default); the rest wait
 * in order for a free one.
 */
export class PooledConnection {
  /** Channels open now. */
  active = 0;
  lastUsedAt = performance.now();
  closed = false;
  private readonly waiters: Array<() => void> = [];

  constructor(
    private readonly chain: OpenedChain,
    private readonly maxChannels: number,
    onClosed: () => void,
  ) {
    chain.client.on('close', () => {
      this.closed = true;
      onClosed();
    });
  }

  get hostKey(): SshHostKey {
    return this.chain.hostKey;
  }

  async exec(command: string, options: SshExecOptions, budget: ExecBudget, where: string): Promise<SshExecResult> {
    await this.acquire(budget);
    try {
      return await execOnChannel(this.chain.client, command, options, budget, where);
    } finally {
      this.release();
    }
  }

  /** Ends the connection (and its jump host's). */
  close(): void {
    this.closed = true;
    this.chain.client.end();
    this.chain.jump?.end();
  }

  private acquire(budget: ExecBudget): Promise<void> {
    this.lastUsedAt = performance.now();
    if (this.active < this.maxChannels) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const signal = budget.signal;
      const onAbort = () => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason as SshFailure);
      };
      // `release` hands its channel over: `active` stays counted for this waiter.
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal.aborted) {
        reject(signal.reason as SshFailure);
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(wake);
    });
  }

  private release(): void {
    this.lastUsedAt = performance.now();
    const next = this.waiters.shift();
    if (next) {
      next();
      return;
    }
    this.active--;
  }
}
