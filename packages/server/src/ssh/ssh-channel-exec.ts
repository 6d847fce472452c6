import { StringDecoder } from 'node:string_decoder';
import type { ClientChannel } from 'ssh2';
import type { SshClient } from './ssh-client-open.js';
import type { ExecBudget } from './ssh-exec-budget.js';
import { type SshExecOptions, type SshExecResult, SshFailure } from './ssh-transport.js';

/** Output kept per stream unless the caller says otherwise. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/** The first `cap` bytes of a stream, and how many more were dropped; live chunks go to `onChunk` whole. */
class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly cap: number,
    private readonly onChunk?: (chunk: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.onChunk) {
      const text = this.decoder.write(chunk);
      if (text) this.onChunk(text);
    }
    const room = this.cap - this.kept;
    if (room >= chunk.length) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
    } else {
      if (room > 0) this.chunks.push(chunk.subarray(0, room));
      this.kept += Math.max(room, 0);
      this.dropped += chunk.length - Math.max(room, 0);
    }
  }

  text(): string {
    if (this.onChunk) {
      const rest = this.decoder.end();
      if (rest) this.onChunk(rest);
    }
    const kept = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped === 0 ? kept : `${kept}\n[output cut: ${this.dropped} more bytes after the first ${this.cap} were not kept]\n`;
  }
}

/**
 * Runs one command on an open connection's new channel. A non-zero exit is a result; the
 * budget running out closes the channel (a TERM signal first, for servers that take it) and
 * rejects with its failure; a connection lost mid-command is `unreachable`.
 */
export function execOnChannel(client: SshClient, command: string, options: SshExecOptions, budget: ExecBudget, where: string): Promise<SshExecResult> {
  const started = performance.now();
  const cap = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  return new Promise((resolve, reject) => {
    if (budget.signal.aborted) {
      reject(budget.signal.reason as SshFailure);
      return;
    }
    let settled = false;
    let channel: ClientChannel | null = null;
    const stop = () => {
      if (!channel) return;
      try {
        channel.signal('TERM');
      } catch {
        // The channel may already be closing.
      }
      channel.close();
    };
    const onAbort = () => {
      if (settled) return;
      settled = true;
      stop();
      reject(budget.signal.reason as SshFailure);
    };
    budget.signal.addEventListener('abort', onAbort, { once: true });
    const finish = (fn: () => void) => {
      budget.signal.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      fn();
    };
    try {
      client.exec(command, (err, stream) => {
        if (err) {
          finish(() => reject(new SshFailure('protocol', `${where}: the server did not open a channel for the command: ${err.message}`)));
          return;
        }
        channel = stream;
        if (settled) {
          stop();
          return;
        }
        const stdout = new CappedOutput(cap, options.onStdout);
        const stderr = new CappedOutput(cap, options.onStderr);
        let code: number | null = null;
        let signal: string | null = null;
        let exited = false;
        stream.on('data', (chunk: Buffer) => stdout.push(chunk));
        stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        stream.on('exit', (exitCode: number | null, signalName?: string) => {
          exited = true;
          code = typeof exitCode === 'number' ? exitCode : null;
          signal = signalName ?? null;
        });
        stream.on('close', () => {
          if (!exited) {
            finish(() => reject(new SshFailure('unreachable', `${where}: the connection was lost during the command`)));
            return;
          }
          finish(() => resolve({ code, signal, stdout: stdout.text(), stderr: stderr.text(), durationMs: Math.round(performance.now() - started) }));
        });
        stream.end(options.stdin ?? '');
      });
    } catch (err) {
      // ssh2 throws when the connection is no longer open.
      finish(() => reject(new SshFailure('unreachable', `${where}: the connection was closed before the command: ${(err as Error).message}`)));
    }
  });
}
