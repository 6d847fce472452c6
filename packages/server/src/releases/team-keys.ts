import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError, teamNameProblem } from '@gpufleet/protocol';
import { generateTufKey, signingKeyFromPem, tufKeyId, type TufKeyJson, type TufSigningKey } from './tuf-keys.js';

/**
 * A team's key (`releases keys init-team NAME --out DIR`): the private key as PKCS#8 PEM, mode
 * 0600, like the keys folder's (NAME.pem), and its public half as TUF key JSON (NAME.pub.json)
 * to hand to whoever holds the targets key. The private key stays on the team's machine.
 */

/** A public key as the targets key delegates to it. */
export interface TeamPublicKey {
  keyId: string;
  publicJson: TufKeyJson;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Makes NAME.pem and NAME.pub.json in `dir` (made 0700); an existing file of either name is refused. */
export function initTeamKey(o: { name: string; dir: string }): { key: TufSigningKey; privateFile: string; publicFile: string } {
  const problem = teamNameProblem(o.name);
  if (problem) throw new FleetError('invalid_argument', problem);
  if (existsSync(o.dir) && !statSync(o.dir).isDirectory()) throw new FleetError('invalid_argument', `${o.dir} is not a folder`);
  const privateFile = join(o.dir, `${o.name}.pem`);
  const publicFile = join(o.dir, `${o.name}.pub.json`);
  for (const f of [privateFile, publicFile]) if (existsSync(f)) throw new FleetError('already_exists', `${f} exists: refusing to overwrite a key`);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const key = generateTufKey();
  writeFileSync(privateFile, key.privateKeyPem, { mode: 0o600, flag: 'wx' });
  chmodSync(privateFile, 0o600);
  writeFileSync(publicFile, `${JSON.stringify(key.publicJson, null, 2)}\n`, { mode: 0o644, flag: 'wx' });
  return { key, privateFile, publicFile };
}

/** Checks TUF public key JSON (an Ed25519 key) and names it; anything else is invalid_argument, saying what. */
export function teamPublicKeyOf(json: unknown, what: string): TeamPublicKey {
  const k = json as Partial<TufKeyJson> | null;
  if (typeof k !== 'object' || k === null || Array.isArray(k)) throw new FleetError('invalid_argument', `${what} is not a TUF public key (a JSON object)`);
  if (k.keytype !== 'ed25519' || k.scheme !== 'ed25519')
    throw new FleetError('invalid_argument', `${what} must be an Ed25519 key (keytype and scheme ed25519), not ${String(k.keytype)}/${String(k.scheme)}`);
  const pub = (k.keyval as { public?: unknown } | undefined)?.public;
  if (typeof pub !== 'string' || !HEX64.test(pub)) throw new FleetError('invalid_argument', `${what} has no keyval.public of 64 lowercase hex digits`);
  const publicJson: TufKeyJson = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: pub } };
  return { keyId: tufKeyId(publicJson), publicJson };
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetError('not_found', `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
    });
  }
}

/** Reads NAME.pub.json; a private key given by mistake is refused without echoing it. */
export function readTeamPublicKey(file: string): TeamPublicKey {
  const text = readText(file, 'the public key');
  if (text.includes('PRIVATE KEY')) throw new FleetError('invalid_argument', `${file} holds a private key: give the team's NAME.pub.json, never its .pem`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FleetError('invalid_argument', `${file} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return teamPublicKeyOf(json, file);
}

/** Reads a team's private key (NAME.pem). */
export function readTeamSigningKey(file: string): TufSigningKey {
  return signingKeyFromPem(readText(file, 'the team key'), file);
}
