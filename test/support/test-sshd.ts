import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../e2e/support/free-port.js';
import { sleep } from '../e2e/support/wait-for.js';

/** Debian's OpenSSH server (`apt-get install openssh-server`; .ci/run installs it). */
export const SSHD = '/usr/sbin/sshd';

/** Throws a clear error when the OpenSSH tools are missing, instead of a spawn ENOENT. */
export function assertOpenSsh(): void {
  const missing = [SSHD, '/usr/bin/ssh-keygen'].filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`these tests run a real sshd, but ${missing.join(' and ')} is missing: apt-get install -y openssh-server`);
}

/** Makes an Ed25519 key pair without a passphrase at `path` (and `path.pub`); returns its `SHA256:` fingerprint. */
export function makeKey(path: string): string {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gpufleet-test', '-f', path]);
  return fingerprintOf(`${path}.pub`);
}

/** The fingerprint `ssh-keygen -lf` prints for a public key file. */
export function fingerprintOf(pubPath: string): string {
  const line = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubPath]).toString('utf8');
  const fp = /SHA256:[A-Za-z0-9+/]{43}/.exec(line)?.[0];
  if (!fp) throw new Error(`ssh-keygen printed no fingerprint for ${pubPath}: ${line}`);
  return fp;
}

export interface TestSshdOptions {
  /**
   * More sshd_config lines, written BEFORE the defaults: sshd keeps the first value of a keyword,
   * so `PasswordAuthentication no` or `SetEnv PATH=/fake/bin:/usr/bin:/bin` here wins.
   * No `Match` blocks (they would swallow the defaults that follow).
   */
  extraConfig?: string[];
  /** Loopback address to listen on (default 127.0.0.1; 127.0.0.2 makes a host only a jump host reaches by name). */
  listenAddress?: string;
}

/**
 * A real sshd on a free loopback port, run in the foreground (`-D -e`) with everything in its own
 * folder: host key, authorized keys, config and pid file. Root may log in (with a key; a password
 * login is possible but root has none here, which is what the wrong-password test wants).
 */
export class TestSshd {
  private proc: ChildProcess | null = null;
  /** sshd's own log (stderr), for failure messages. */
  output = '';
  readonly hostKeyPath: string;
  readonly authorizedKeysPath: string;
  hostKeyFingerprint = '';
  /** TCP connections sshd accepted since it was made (from its VERBOSE log), restarts included. */
  acceptedConnections = 0;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly address: string,
  ) {
    this.hostKeyPath = join(dir, 'ssh_host_ed25519_key');
    this.authorizedKeysPath = join(dir, 'authorized_keys');
  }

  /** Makes the folder's host key, authorizes `clientPubKeys` and starts sshd. */
  static async start(dir: string, clientPubKeys: string[], opts: TestSshdOptions = {}): Promise<TestSshd> {
    assertOpenSsh();
    mkdirSync(dir, { recursive: true });
    // sshd insists on its privilege separation folder.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const sshd = new TestSshd(dir, await freePort(), opts.listenAddress ?? '127.0.0.1');
    sshd.hostKeyFingerprint = makeKey(sshd.hostKeyPath);
    writeFileSync(sshd.authorizedKeysPath, `${clientPubKeys.map((p) => readFileSync(p, 'utf8').trim()).join('\n')}\n`, { mode: 0o600 });
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        ...(opts.extraConfig ?? []),
        `Port ${sshd.port}`,
        `ListenAddress ${sshd.address}`,
        `HostKey ${sshd.hostKeyPath}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${sshd.authorizedKeysPath}`,
        'UsePAM no',
        // The temp folders are not the user's home: do not check their modes as if they were.
        'StrictModes no',
        'PermitRootLogin yes',
        'PubkeyAuthentication yes',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    await sshd.run();
    return sshd;
  }

  /**
   * Starts `count` servers at once, in `baseDir/sshd-0`, `sshd-1`..., all authorizing the same
   * client keys (a small fleet for the pool tests and the ssh-exec benchmark).
   */
  static startMany(count: number, baseDir: string, clientPubKeys: string[], opts: TestSshdOptions = {}): Promise<TestSshd[]> {
    return Promise.all(Array.from({ length: count }, (_, i) => TestSshd.start(join(baseDir, `sshd-${i}`), clientPubKeys, opts)));
  }

  /** The host public key as known_hosts and the SSH transport store it: algorithm and base64 blob. */
  hostPublicKey(): { algorithm: string; publicKey: string } {
    const [algorithm, publicKey] = readFileSync(`${this.hostKeyPath}.pub`, 'utf8').trim().split(/\s+/);
    return { algorithm: algorithm!, publicKey: publicKey! };
  }

  /** This server's known_hosts line (`[127.0.0.1]:port ssh-ed25519 AAAA...`). */
  knownHostsLine(): string {
    const { algorithm, publicKey } = this.hostPublicKey();
    return `[${this.address}]:${this.port} ${algorithm} ${publicKey}`;
  }

  /** Starts it again after `stop()`, same port, same host key. */
  async restart(): Promise<void> {
    await this.stop();
    await this.run();
  }

  /** Gives the server a new host key (a reinstalled machine, or one in the middle) and restarts it on the same port. */
  async changeHostKey(): Promise<void> {
    await this.stop();
    this.hostKeyFingerprint = makeKey(this.hostKeyPath);
    await this.run();
  }

  private async run(): Promise<void> {
    const proc = spawn(SSHD, ['-D', '-e', '-f', join(this.dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    const probesBefore = this.acceptedConnections;
    proc.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.acceptedConnections += text.match(/^Connection from /gm)?.length ?? 0;
      this.output = (this.output + text).slice(-32_768);
    });
    const deadline = performance.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`sshd exited during start-up:\n${this.output}`);
      if (await bannerOn(this.address, this.port)) {
        // The banner probes are connections too; tests count only their own. The log line of the
        // last probe may come a moment later, so wait for it before taking the probes off.
        const seenBy = performance.now() + 2_000;
        while (this.acceptedConnections - probesBefore < 1 && performance.now() < seenBy) await sleep(10);
        this.acceptedConnections = probesBefore;
        return;
      }
      if (performance.now() > deadline) {
        await this.stop();
        throw new Error(`sshd did not answer on port ${this.port} within 10 s:\n${this.output}`);
      }
      await sleep(50);
    }
  }

  /** Stops the listening sshd (sessions still open end with their connections). */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((res) => proc.once('exit', () => res()));
    proc.kill('SIGTERM');
    const timeout = sleep(5_000).then(() => 'timeout' as const);
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      proc.kill('SIGKILL');
      await exited;
    }
  }
}

/** Whether an SSH server answers on the port with its version banner. */
function bannerOn(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.once('data', (b) => done(b.toString('latin1').startsWith('SSH-')));
    sock.once('error', () => done(false));
  });
}
