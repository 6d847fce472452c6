import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { ProviderError } from './cloud-provider.js';
import type { SshSecret } from './ssh-credentials.js';
import { type HostKeyVerdict, type PresentedHostKey, presentedHostKey } from './ssh-host-keys.js';

/**
 * One SSH connection to one host (ssh2, pure JS), with every failure turned into a ProviderError
 * of the closed list: a refused host key or login is `auth` (retrying cannot help), a host that
 * does not answer is `transient`.
 */

export interface SshTarget {
  name: string;
  address: string;
  port: number;
  user: string;
}

export interface SshTimeouts {
  /** Connect and finish the SSH handshake within this. */
  readyTimeoutMs: number;
  /** Keepalive packets this often; `keepaliveCountMax` unanswered in a row drop the connection. */
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
}

export interface ExecResult {
  /** Exit status; null when the command ended by a signal. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Decides whether a host key is the right one; it may store a pin first. */
export type HostKeyCheck = (presented: PresentedHostKey) => Promise<HostKeyVerdict>;

/** Output kept per stream: enough for a useful error, bounded for a chatty command. */
const MAX_OUTPUT_CHARS = 64 * 1024;

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

export class SshSession {
  private closed = false;

  private constructor(
    readonly target: SshTarget,
    private readonly client: InstanceType<typeof ssh2.Client>,
  ) {
    client.on('close', () => {
      this.closed = true;
    });
  }

  /** Connects and logs in; resolves once the session is ready for commands. */
  static open(target: SshTarget, secret: SshSecret, checkHostKey: HostKeyCheck, timeouts: SshTimeouts): Promise<SshSession> {
    const where = `host ${target.name} (${target.user}@${target.address}:${target.port})`;
    const client = new ssh2.Client();
    let refusedKey: Extract<HostKeyVerdict, { ok: false }> | null = null;
    let keyCheckError: unknown = null;
    const config: ConnectConfig = {
      host: target.address,
      port: target.port,
      username: target.user,
      readyTimeout: timeouts.readyTimeoutMs,
      keepaliveInterval: timeouts.keepaliveIntervalMs,
      keepaliveCountMax: timeouts.keepaliveCountMax,
      tryKeyboard: false,
      // ssh2 treats any value returned here as the verdict: this must return undefined and answer through `verify`.
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void): void => {
        checkHostKey(presentedHostKey(key)).then(
          (verdict) => {
            if (!verdict.ok) refusedKey = verdict;
            verify(verdict.ok);
          },
          (err) => {
            keyCheckError = err;
            verify(false);
          },
        );
      },
      ...(secret.kind === 'key'
        ? { privateKey: secret.privateKey, ...(secret.passphrase !== null ? { passphrase: secret.passphrase } : {}) }
        : { password: secret.password }),
    };
    return new Promise<SshSession>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error & { level?: string; code?: string }) => {
        if (settled) return;
        settled = true;
        // Nothing to say goodbye to: drop the socket, so no half-open connection lingers.
        client.destroy();
        if (refusedKey) {
          const r = refusedKey;
          reject(
            new ProviderError(
              'auth',
              `${where} presented host key ${r.presented.algorithm} ${r.presented.fingerprint}, but ${r.expected} ${r.reason}: refused. If the host was reinstalled, check the new key and write it as host_key: in the hosts file`,
              { code: 'host_key_changed' },
            ),
          );
        } else if (keyCheckError) {
          reject(new ProviderError('auth', `${where}: cannot check its host key: ${(keyCheckError as Error).message}`, { code: 'host_key_unchecked' }));
        } else if (err.level === 'client-authentication') {
          reject(
            new ProviderError('auth', `${where}: login refused (the server did not accept the ${secret.kind === 'key' ? 'key' : 'password'})`, {
              code: 'login_refused',
            }),
          );
        } else if (err.level === 'client-timeout') {
          reject(new ProviderError('transient', `${where}: no SSH handshake within ${timeouts.readyTimeoutMs} ms`, { code: 'timeout' }));
        } else if (err.code !== undefined && UNREACHABLE.has(err.code)) {
          reject(new ProviderError('transient', `${where} cannot be reached: ${err.code}`, { code: err.code }));
        } else {
          reject(new ProviderError('transient', `${where}: SSH failed: ${err.message}`, { code: err.level ?? 'ssh' }));
        }
      };
      client.once('ready', () => {
        settled = true;
        resolve(new SshSession(target, client));
      });
      // Stays for the connection's life: later errors (a dropped connection, one more after a
      // timeout) surface through the command that was running, never as an uncaught error.
      client.on('error', fail);
      try {
        client.connect(config);
      } catch (err) {
        // ssh2 throws at once for a key it cannot use; the key was checked when the provider was built.
        settled = true;
        client.end();
        reject(new ProviderError('invalid', `${where}: ${(err as Error).message}`));
      }
    });
  }

  /**
   * Runs `command` (a line for the login shell) and resolves with its exit status and output. It
   * never rejects for a non-zero exit; a lost connection or a command past `timeoutMs` is
   * `transient`. `what` names the command in errors, so the command line (which may hold a join
   * token) never does.
   */
  exec(command: string, opts: { what: string; timeoutMs: number; stdin?: string }): Promise<ExecResult> {
    const where = `host ${this.target.name}`;
    if (this.closed) return Promise.reject(new ProviderError('transient', `${where}: the SSH connection was closed before ${opts.what}`));
    return new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
        if (err) {
          reject(new ProviderError('transient', `${where}: cannot start ${opts.what}: ${err.message}`));
          return;
        }
        let stdout = '';
        let stderr = '';
        const keep = (acc: string, chunk: Buffer) => (acc + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
        stream.on('data', (chunk: Buffer) => {
          stdout = keep(stdout, chunk);
        });
        stream.stderr.on('data', (chunk: Buffer) => {
          stderr = keep(stderr, chunk);
        });
        const timer = setTimeout(() => {
          stream.close();
          reject(new ProviderError('transient', `${where}: ${opts.what} did not finish within ${opts.timeoutMs} ms`, { code: 'timeout' }));
        }, opts.timeoutMs);
        stream.on('close', (code: number | null | undefined, signal: string | null | undefined) => {
          clearTimeout(timer);
          if ((code === undefined || code === null) && !signal) {
            reject(new ProviderError('transient', `${where}: the SSH connection was lost during ${opts.what}`));
            return;
          }
          resolve({ code: code ?? null, signal: signal ?? null, stdout, stderr });
        });
        stream.end(opts.stdin ?? '');
      });
    });
  }

  /** Ends the connection; safe to call twice. */
  close(): void {
    this.closed = true;
    this.client.end();
  }
}
