import { base64urlEncode } from './base64url.js';
import { abilityForContainerOp, type AbilityName } from './remote-ops-rules.js';
import { parseSelector } from './selector.js';
import type { Capability, CommandPayload, CommandSpec } from './remote-ops.js';

/*
 * How an operator's command payload is made, shared by the CLI (`gpufleet exec`) and the
 * dashboard's in-browser signer so both sign exactly the same thing. Pure: no zod, no
 * node:crypto (randomness comes from globalThis.crypto, present in Node 20 and browsers);
 * the dashboard imports this file by relative path.
 */

/** `n` bytes from the platform's CSPRNG. */
function randomBytes(n: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

/** A fresh run id: `run_` and 9 random bytes in base64url (12 characters). */
export function newRunId(): string {
  return `run_${base64urlEncode(randomBytes(9))}`;
}

/** A fresh command nonce: 18 random bytes in base64url (24 characters). */
export function newCommandNonce(): string {
  return base64urlEncode(randomBytes(18));
}

/**
 * The ability the payload declares: exec/run for argv and shell; for a library script exec/script,
 * unless the capability grants exec/run only (which covers scripts too); a container operation
 * the one abilityForContainerOp names.
 */
export function abilityFor(spec: CommandSpec, capability: Capability | null): Exclude<AbilityName, '*'> {
  if (spec.kind === 'container') return abilityForContainerOp(spec.op);
  if (spec.kind !== 'script') return 'exec/run';
  const can: readonly string[] = capability?.can ?? [];
  return can.length > 0 && !can.includes('exec/script') && !can.includes('*') && can.includes('exec/run') ? 'exec/run' : 'exec/script';
}

/** What a payload is made of; the run id, nonce and ability are decided here. */
export interface CommandPayloadInput {
  spec: CommandSpec;
  /** Label selector of the hosts meant; trimmed; throws FleetError('invalid_argument') when it does not parse. */
  selector: string;
  timeoutMs: number;
  env: Record<string, string>;
  cwd: string | null;
  runAs: string | null;
  /** The signing key's did:key. */
  invoker: string;
  /** The invoker's capability, or null when the invoker is a fleet root. */
  capability: Capability | null;
  /** Issue time, epoch ms. */
  now: number;
}

/**
 * The payload an operator signs: a fresh runId and nonce, issued now. Checks the selector only;
 * callers with the schema at hand (the CLI) check the rest with CommandPayload, and every host
 * checks it again whatever the caller did.
 */
export function makeCommandPayload(p: CommandPayloadInput): CommandPayload {
  const target = p.selector.trim();
  parseSelector(target); // a typo is refused before anything is signed
  return {
    v: 1,
    runId: newRunId(),
    nonce: newCommandNonce(),
    issuedAt: p.now,
    ability: abilityFor(p.spec, p.capability),
    target,
    command: p.spec,
    env: p.env,
    cwd: p.cwd,
    timeoutMs: p.timeoutMs,
    runAs: p.runAs,
    invoker: p.invoker,
    capability: p.capability,
  };
}
