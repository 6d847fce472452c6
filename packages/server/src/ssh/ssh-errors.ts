import { type SshLogin, SshFailure } from './ssh-transport.js';

/**
 * Turns what ssh2 and the socket report into the transport's closed list of failures, with a
 * message that names the host and never a secret.
 */

/** Socket errors that mean "nothing answers there". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EADDRNOTAVAIL',
]);

/** `gpu-07 (root@10.0.0.7:22)`: how every message names a host. */
export function describeHost(name: string, user: string, address: string, port: number): string {
  return `${name} (${user}@${address}:${port})`;
}

/** Removes the login's secrets from a message, in case a library ever echoes them. */
export function redact(message: string, login: SshLogin): string {
  const secrets = login.kind === 'password' ? [login.password] : [login.privateKey, login.passphrase ?? ''];
  let out = message;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out;
}

type Ssh2Error = Error & { level?: string; code?: string };

/** Maps an error from connecting and logging in (ssh2's `error` event, or its throw on a bad key). */
export function connectFailure(err: unknown, where: string, login: SshLogin, connectTimeoutMs: number): SshFailure {
  if (err instanceof SshFailure) return err;
  const e = err as Ssh2Error;
  const message = redact(e.message ?? String(err), login);
  if (e.level === 'client-authentication') {
    const what = login.kind === 'key' ? 'key' : 'password';
    return new SshFailure('auth', `${where}: login refused (all authentication methods failed; the server did not accept the ${what})`);
  }
  if (e.level === 'client-timeout') return new SshFailure('timeout', `${where}: no SSH handshake within ${connectTimeoutMs} ms`);
  if (e.code !== undefined && UNREACHABLE_CODES.has(e.code)) return new SshFailure('unreachable', `${where} cannot be reached: ${e.code}`);
  // ssh2 throws these from connect() for a key it cannot read or decrypt.
  if (/privateKey|passphrase|private key/i.test(message)) return new SshFailure('auth', `${where}: the private key cannot be used: ${message}`);
  return new SshFailure('protocol', `${where}: SSH failed: ${message}`);
}

/** Maps a jump host's refusal to open the tunnel to the target. */
export function forwardFailure(err: unknown, where: string, bastionWhere: string): SshFailure {
  const message = (err as Error).message ?? String(err);
  // OpenSSH answers a forward it could not connect with "Connection refused" / "open failed".
  if (/refused|open failed|unreachable|no route/i.test(message)) {
    return new SshFailure('unreachable', `${where} cannot be reached through the jump host ${bastionWhere}: ${message}`);
  }
  return new SshFailure('protocol', `${where}: the jump host ${bastionWhere} did not open a tunnel: ${message}`);
}
