import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKey, TestSshd, type TestSshdOptions } from '../../../../../test/support/test-sshd.js';
import type { HostKeyPolicy, SshEndpoint, SshHostKey, SshLogin } from '../ssh-transport.js';

/** A temp folder with a client key and real sshd processes that accept it, for the transport's tests. */
export class SshdFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'gpufleet-ssh-'));
  readonly clientKeyPath = join(this.dir, 'id_client');
  private readonly servers: TestSshd[] = [];

  constructor() {
    makeKey(this.clientKeyPath);
  }

  get login(): SshLogin {
    return { kind: 'key', privateKey: readFileSync(this.clientKeyPath, 'utf8'), passphrase: null };
  }

  async sshd(name: string, opts: TestSshdOptions = {}): Promise<TestSshd> {
    const sshd = await TestSshd.start(join(this.dir, name), [`${this.clientKeyPath}.pub`], opts);
    this.servers.push(sshd);
    return sshd;
  }

  /** The key the server presents, as the transport reports it. */
  static hostKeyOf(sshd: TestSshd): SshHostKey {
    const { algorithm, publicKey } = sshd.hostPublicKey();
    return { algorithm, publicKey, fingerprint: sshd.hostKeyFingerprint };
  }

  /** An endpoint for `sshd` that pins its current key. */
  endpoint(name: string, sshd: TestSshd, over: Partial<SshEndpoint> = {}): SshEndpoint {
    const hostKey: HostKeyPolicy = { kind: 'pinned', key: SshdFixture.hostKeyOf(sshd) };
    return { name, address: sshd.address, port: sshd.port, user: 'root', login: this.login, hostKey, bastion: null, ...over };
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
