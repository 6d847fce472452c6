import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { checkHostKey } from './host-key-check.js';
import { sshHostKeyOf } from './host-key-format.js';
import { connectFailure, describeHost, forwardFailure } from './ssh-errors.js';
import { type HostKeyPolicy, type SshEndpoint, SshFailure, type SshHostKey, type SshLogin } from './ssh-transport.js';

/**
 * Opening SSH connections with ssh2: one hop (connect, check the host key, log in), and the
 * chain through a jump host (log in there, open a direct-tcpip tunnel to the target, and run the
 * target's connection over it). The host key is always checked before any login, each hop
 * against its own policy.
 */

export type SshClient = InstanceType<typeof ssh2.Client>;

export interface SshConnectTimeouts {
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
}

interface SshHop {
  where: string;
  address: string;
  port: number;
  user: string;
  login: SshLogin;
  hostKey: HostKeyPolicy;
}

export interface OpenedChain {
  client: SshClient;
  hostKey: SshHostKey;
  /** The jump host's connection, ended with the target's. */
  jump: SshClient | null;
}

function hopsOf(endpoint: SshEndpoint): { target: SshHop; bastion: SshHop | null } {
  const target = { ...endpoint, where: describeHost(endpoint.name, endpoint.user, endpoint.address, endpoint.port) };
  const b = endpoint.bastion;
  const bastion = b ? { ...b, where: `the jump host ${describeHost(`${endpoint.name}'s bastion`, b.user, b.address, b.port)}` } : null;
  return { target, bastion };
}

/**
 * Connects to one hop. `login` mode checks the host key against the policy and logs in;
 * `key-only` mode stops right after the server showed its key (no login, nothing trusted) and
 * resolves with that key and no client.
 */
function openHop(
  hop: SshHop,
  timeouts: SshConnectTimeouts,
  sock: Duplex | null,
  mode: 'login' | 'key-only',
): Promise<{ client: SshClient | null; hostKey: SshHostKey }> {
  const client = new ssh2.Client();
  let presented: SshHostKey | null = null;
  let refusal: SshFailure | null = null;
  const config: ConnectConfig = {
    host: hop.address,
    port: hop.port,
    username: hop.user,
    readyTimeout: timeouts.connectTimeoutMs,
    keepaliveInterval: timeouts.keepaliveIntervalMs,
    keepaliveCountMax: timeouts.keepaliveCountMax,
    tryKeyboard: false,
    ...(sock ? { sock } : {}),
    // ssh2 takes any value returned here as the verdict: return nothing and answer through `verify`.
    hostVerifier: (blob: Buffer, verify: (valid: boolean) => void): void => {
      const key = sshHostKeyOf(blob);
      presented = key;
      if (mode === 'key-only') {
        verify(false);
        return;
      }
      checkHostKey(hop.hostKey, key, hop.where).then(
        (failure) => {
          refusal = failure;
          verify(failure === null);
        },
        (err: unknown) => {
          refusal = new SshFailure('protocol', `${hop.where}: cannot check its host key: ${(err as Error).message}`);
          verify(false);
        },
      );
    },
    ...(hop.login.kind === 'key'
      ? { privateKey: hop.login.privateKey, ...(hop.login.passphrase !== null ? { passphrase: hop.login.passphrase } : {}) }
      : { password: hop.login.password }),
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      resolve({ client, hostKey: presented! });
    });
    // Stays for the connection's life, so a later error (a dropped connection) is never uncaught.
    client.on('error', (err: Error) => {
      if (settled) return;
      settled = true;
      client.destroy();
      if (mode === 'key-only' && presented) resolve({ client: null, hostKey: presented });
      else reject(refusal ?? connectFailure(err, hop.where, hop.login, timeouts.connectTimeoutMs));
    });
    client.on('close', () => {
      if (settled) return;
      settled = true;
      if (mode === 'key-only' && presented) resolve({ client: null, hostKey: presented });
      else reject(refusal ?? new SshFailure('protocol', `${hop.where}: the connection closed during the SSH handshake`));
    });
    try {
      client.connect(config);
    } catch (err) {
      // ssh2 throws at once for a key it cannot parse or decrypt.
      settled = true;
      client.destroy();
      reject(connectFailure(err, hop.where, hop.login, timeouts.connectTimeoutMs));
    }
  });
}

/** Asks the jump host for a direct-tcpip tunnel to the target, bounded by the connect timeout. */
function forwardTo(jump: SshClient, target: SshHop, bastionWhere: string, timeoutMs: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new SshFailure('timeout', `${target.where}: the jump host ${bastionWhere} opened no tunnel within ${timeoutMs} ms`)),
      timeoutMs,
    );
    jump.forwardOut('127.0.0.1', 0, target.address, target.port, (err, stream) => {
      clearTimeout(timer);
      if (err) reject(forwardFailure(err, target.where, bastionWhere));
      else resolve(stream);
    });
  });
}

/** Opens the target's connection, through its jump host when it has one. */
export async function openChain(endpoint: SshEndpoint, timeouts: SshConnectTimeouts): Promise<OpenedChain> {
  const { target, bastion } = hopsOf(endpoint);
  if (!bastion) {
    const { client, hostKey } = await openHop(target, timeouts, null, 'login');
    return { client: client!, hostKey, jump: null };
  }
  const jump = (await openHop(bastion, timeouts, null, 'login')).client!;
  try {
    const tunnel = await forwardTo(jump, target, bastion.where, timeouts.connectTimeoutMs);
    const { client, hostKey } = await openHop(target, timeouts, tunnel, 'login');
    client!.on('close', () => jump.end());
    jump.on('close', () => client!.destroy());
    return { client: client!, hostKey, jump };
  } catch (err) {
    jump.end();
    throw err;
  }
}

/** The key the target presents, without logging in to it (the jump host, when there is one, is logged in to and checked). */
export async function probeHostKey(endpoint: SshEndpoint, timeouts: SshConnectTimeouts): Promise<SshHostKey> {
  const { target, bastion } = hopsOf(endpoint);
  if (!bastion) return (await openHop(target, timeouts, null, 'key-only')).hostKey;
  const jump = (await openHop(bastion, timeouts, null, 'login')).client!;
  try {
    const tunnel = await forwardTo(jump, target, bastion.where, timeouts.connectTimeoutMs);
    return (await openHop(target, timeouts, tunnel, 'key-only')).hostKey;
  } finally {
    jump.end();
  }
}
