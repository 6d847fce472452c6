import type { Capability, CommandPayload, SignedCommand } from '@gpufleet/protocol';
import { base64urlEncode } from '../../../../protocol/src/base64url.js';
import { canonicalJson } from '../../../../protocol/src/canonical-json.js';
import { makeCommandPayload } from '../../../../protocol/src/command-payload.js';
import type { SignRequest } from './types.js';

/*
 * The browser's half of `gpufleet exec`: the same payload the CLI builds (the shared
 * makeCommandPayload), signed over the same bytes (canonical JSON of the payload) with the
 * same encoding (a 64-byte Ed25519 signature in base64url), so hosts cannot tell them apart.
 * The browser has no zod (it would need eval, which the page's CSP forbids), so the request
 * is checked here against the schema's limits; the server and every host check it again.
 */

/** The longest timeout a host accepts (as the CLI's --timeout). */
export const MAX_TIMEOUT_MS = 7 * 86_400_000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why the request cannot be signed, or null when it can. */
export function signRequestProblem(req: SignRequest): string | null {
  const c = req.command;
  switch (c.kind) {
    case 'argv':
      if (c.argv.length === 0 || c.argv[0]!.trim() === '') return 'say what to run: the command is empty';
      if (c.argv.length > 1024) return 'a command has at most 1024 words';
      if (c.argv.some((w) => w.length > 65_536)) return 'a command word is longer than 64 KiB';
      break;
    case 'shell':
      if (c.script.trim() === '') return 'say what to run: the shell script is empty';
      if (c.script.length > 1_048_576) return 'the shell script is longer than 1 MiB';
      break;
    case 'script':
      if (!/^[0-9a-f]{64}$/.test(c.sha256)) return 'a library script needs its SHA-256';
      break;
    case 'container':
      if (c.container.trim() === '') return 'say which container';
      break;
  }
  if (!Number.isInteger(req.timeoutMs) || req.timeoutMs < 1000 || req.timeoutMs > MAX_TIMEOUT_MS) return 'the timeout must be from 1s to 7d';
  for (const name of Object.keys(req.env ?? {}))
    if (!ENV_NAME.test(name)) return `environment name '${name}' must be letters, digits and _ (not starting with a digit)`;
  if ((req.cwd ?? '').length > 4096) return 'the working folder is longer than 4096 characters';
  if ((req.runAs ?? '').length > 64) return 'the run-as user is longer than 64 characters';
  if (req.target.length > 4096) return 'the selector is longer than 4096 characters';
  return null;
}

/** The payload to sign for `req` by `invoker`: fresh run id and nonce, issued `now`. Throws an Error naming what is wrong. */
export function draftPayload(req: SignRequest, invoker: string, capability: Capability | null, now: number): CommandPayload {
  const problem = signRequestProblem(req);
  if (problem) throw new Error(problem);
  return makeCommandPayload({
    spec: req.command,
    selector: req.target,
    timeoutMs: req.timeoutMs,
    env: req.env ?? {},
    cwd: req.cwd ?? null,
    runAs: req.runAs ?? null,
    invoker,
    capability,
    now,
  });
}

/** Signs the payload's canonical JSON with a WebCrypto Ed25519 key; the signature is base64url, as hosts expect. */
export async function signPayload(privateKey: CryptoKey, payload: CommandPayload): Promise<SignedCommand> {
  const message = new TextEncoder().encode(canonicalJson(payload));
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, message));
  return { payload, sig: base64urlEncode(sig) };
}
