import { SshFailure } from './ssh-transport.js';

/**
 * One command's budget: its timeout and the caller's cancel, as one AbortSignal whose reason is
 * the SshFailure to report ('timeout' or 'canceled'). Every wait on the way (a free connection
 * slot, the connection's open, a free channel, the command itself) ends on it.
 */
export class ExecBudget {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onCallerAbort: () => void;

  constructor(
    where: string,
    timeoutMs: number,
    private readonly callerSignal?: AbortSignal,
  ) {
    this.timer = setTimeout(() => this.controller.abort(new SshFailure('timeout', `${where}: the command did not finish within ${timeoutMs} ms`)), timeoutMs);
    this.onCallerAbort = () => this.controller.abort(new SshFailure('canceled', `${where}: the command was canceled`));
    if (callerSignal?.aborted) this.onCallerAbort();
    else callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Rejects with the budget's failure as soon as it runs out, else settles as `promise` does. */
  race<T>(promise: Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    if (signal.aborted) return Promise.reject(signal.reason as SshFailure);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason as SshFailure);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }
}
