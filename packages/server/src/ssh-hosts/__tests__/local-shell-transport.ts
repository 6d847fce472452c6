import { spawn } from 'node:child_process';
import {
  SshFailure,
  type HostKeyPolicy,
  type SshEndpoint,
  type SshExecOptions,
  type SshExecResult,
  type SshHostKey,
  type SshTransport,
} from '../../ssh/ssh-transport.js';

/**
 * A stand-in for SshPool, for the service's own logic only (the real-sshd tests use SshPool): it
 * checks the host-key policy against the key it is told the host has, and runs the command with
 * this machine's /bin/sh and the given PATH. `unreachable` makes every call fail as a refused TCP connect would.
 */
export class LocalShellTransport implements SshTransport {
  unreachable = false;
  readonly execs: string[] = [];
  readonly logins: SshEndpoint['login'][] = [];

  constructor(
    public hostKey: SshHostKey,
    private readonly path: string,
  ) {}

  async probe(endpoint: SshEndpoint): Promise<SshHostKey> {
    if (this.unreachable) throw new SshFailure('unreachable', `${endpoint.name}: connect ECONNREFUSED ${endpoint.address}:${endpoint.port}`);
    await this.check(endpoint.name, endpoint.hostKey);
    this.logins.push(endpoint.login);
    return this.hostKey;
  }

  async exec(endpoint: SshEndpoint, command: string, options: SshExecOptions): Promise<SshExecResult> {
    await this.probe(endpoint);
    this.execs.push(command);
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', command], { env: { PATH: this.path } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started }));
      child.stdin.on('error', () => {}); // a command that exits without reading its stdin (EPIPE) still has its result
      child.stdin.end(options.stdin ?? '');
    });
  }

  forget(): void {}

  async close(): Promise<void> {}

  private async check(name: string, policy: HostKeyPolicy): Promise<void> {
    if (policy.kind === 'first-use') return policy.onFirstUse(this.hostKey);
    const expected = policy.kind === 'pinned' ? policy.key.fingerprint : policy.fingerprint;
    if (expected === this.hostKey.fingerprint) return;
    throw new SshFailure(
      policy.kind === 'pinned' ? 'host-key-changed' : 'host-key-mismatch',
      `${name}: host key ${this.hostKey.fingerprint} is not ${expected}`,
      { expected, presented: this.hostKey },
    );
  }
}
