import { readFileSync } from 'node:fs';
import { FleetError } from '@gpufleet/protocol';
import ssh2 from 'ssh2';
import { openSecret, type SealedSecret, sealSecret } from '../../trust/secret-box.js';
import { ProviderError } from './cloud-provider.js';
import type { SshHost } from './ssh-hosts-file.js';

/**
 * How the ssh provider logs in, kept sealed (DESIGN.md §6): a key file or an environment variable
 * is read once, when the provider is built, sealed under the master key with the host's record
 * id as associated data, and only the sealed form is stored. It is opened only to connect, and
 * never logged or put in an error message.
 */
export type SshSecret = { kind: 'key'; privateKey: string; passphrase: string | null } | { kind: 'password'; password: string };

/** Reads a host's credential from its key file or environment variable; a missing or unusable one is refused by name. */
export function readCredential(providerName: string, host: SshHost, env: Record<string, string | undefined>): SshSecret {
  const refuse = (why: string) => new ProviderError('invalid', `provider ${providerName}, host ${host.name}: ${why}`);
  if (host.login.kind === 'password') {
    const password = env[host.login.passwordEnv];
    if (password === undefined || password === '') throw refuse(`password_env names ${host.login.passwordEnv}, which is not set`);
    return { kind: 'password', password };
  }
  const { keyFile, passphraseEnv } = host.login;
  let privateKey: string;
  try {
    privateKey = readFileSync(keyFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw refuse(`cannot read key_file ${keyFile}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code}`);
  }
  let passphrase: string | null = null;
  if (passphraseEnv !== null) {
    passphrase = env[passphraseEnv] ?? null;
    if (passphrase === null || passphrase === '') throw refuse(`passphrase_env names ${passphraseEnv}, which is not set`);
  }
  // Checked now, so a wrong file or passphrase is a configuration error, not a failed provision later.
  const parsed = ssh2.utils.parseKey(privateKey, passphrase ?? undefined);
  if (parsed instanceof Error) {
    const encrypted = /encrypted/i.test(parsed.message) && passphrase === null;
    throw refuse(
      encrypted
        ? `key_file ${keyFile} is encrypted: name the variable holding its passphrase with passphrase_env`
        : `key_file ${keyFile} is not a private key that can be used (${parsed.message})`,
    );
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key.isPrivateKey?.() === false) throw refuse(`key_file ${keyFile} holds no private key (a .pub file?)`);
  return { kind: 'key', privateKey, passphrase };
}

export function sealCredential(masterKey: string, recordId: string, secret: SshSecret): SealedSecret {
  return sealSecret(masterKey, recordId, JSON.stringify(secret));
}

/** Opens a sealed credential; a wrong master key or an altered record is refused as `auth` (nothing to retry). */
export function openCredential(masterKey: string, recordId: string, sealed: unknown): SshSecret {
  let text: string;
  try {
    text = openSecret(masterKey, recordId, sealed as SealedSecret).toString('utf8');
  } catch (err) {
    throw new ProviderError('auth', err instanceof FleetError ? err.message : `cannot open sealed credential '${recordId}'`);
  }
  const secret = JSON.parse(text) as SshSecret;
  if (secret.kind !== 'key' && secret.kind !== 'password') throw new ProviderError('auth', `sealed credential '${recordId}' holds no credential`);
  return secret;
}
