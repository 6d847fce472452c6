import type { Capability } from '@gpufleet/protocol';
import { ABILITIES, capabilityDepthExceeds, MAX_CHAIN_DEPTH } from '../../../../protocol/src/remote-ops-rules.js';

/*
 * Capability files (`gpufleet caps grant --out FILE`) read in the browser. JSON only: the CLI's
 * --cap also reads YAML, but the browser has no YAML parser, and `caps grant` writes JSON unless
 * asked for YAML. The check here is of shape and audience, to catch the wrong file early; the
 * signatures of the chain are verified by every host (and by the server when it is registered).
 */

function linkProblem(link: unknown, at: string): string | null {
  if (link === null || typeof link !== 'object' || Array.isArray(link)) return `${at} is not an object`;
  const c = link as Record<string, unknown>;
  const did = (v: unknown) => typeof v === 'string' && v.startsWith('did:key:z');
  const ms = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  if (c.v !== 1) return `${at}.v is not 1`;
  if (!did(c.iss)) return `${at}.iss is not a did:key`;
  if (!did(c.aud)) return `${at}.aud is not a did:key`;
  if (!Array.isArray(c.can) || c.can.length === 0 || !c.can.every((a) => (ABILITIES as readonly unknown[]).includes(a)))
    return `${at}.can is not a list of abilities (${ABILITIES.join(', ')})`;
  if (typeof c.on !== 'string') return `${at}.on is not a selector`;
  if (!ms(c.nbf) || !ms(c.exp)) return `${at}.nbf and .exp must be epoch milliseconds`;
  if (typeof c.nonce !== 'string' || typeof c.sig !== 'string') return `${at}.nonce and .sig must be text`;
  if (!Array.isArray(c.prf) || c.prf.length > 1) return `${at}.prf must be a list of at most one parent`;
  return null;
}

/**
 * Reads a capability file for the key `did`: bare, or inside `{ "capability": ... }`. Throws an
 * Error saying what is wrong: not JSON, not a capability, too deep, or granted to another key.
 */
export function parseCapabilityText(text: string, did: string): Capability {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('this capability file is not JSON (the dashboard reads JSON only: write it with `gpufleet caps grant ... -o json --out FILE`)');
  }
  if (raw && typeof raw === 'object' && 'capability' in raw) raw = (raw as { capability: unknown }).capability;
  if (capabilityDepthExceeds(raw)) throw new Error(`this capability's delegation chain is deeper than ${MAX_CHAIN_DEPTH} links`);
  let link: unknown = raw;
  for (let depth = 0; link !== undefined; depth++) {
    const problem = linkProblem(link, depth === 0 ? 'capability' : `capability${'.prf[0]'.repeat(depth)}`);
    if (problem) throw new Error(`this is not a capability: ${problem}`);
    link = (link as { prf: unknown[] }).prf[0];
  }
  const cap = raw as Capability;
  if (cap.aud !== did) throw new Error(`this capability was granted to ${cap.aud}, not to your key ${did}`);
  return cap;
}

/** What a capability lets its holder do, as a host will judge it. */
export interface CapabilitySummary {
  can: string[];
  /** The selector of every link, root-issued first: a host must match all of them. */
  on: string[];
  /** The latest `nbf` of the chain, epoch ms. */
  validFrom: number;
  /** The earliest `exp` of the chain: when the first link runs out, epoch ms. */
  expires: number;
  /** Issuers, root-issued link first. */
  issuers: string[];
}

export function summarizeCapability(cap: Capability): CapabilitySummary {
  const chain: Capability[] = [];
  for (let link: Capability | undefined = cap; link; link = link.prf[0]) chain.unshift(link);
  return {
    can: [...cap.can],
    on: chain.map((l) => l.on),
    validFrom: Math.max(...chain.map((l) => l.nbf)),
    expires: Math.min(...chain.map((l) => l.exp)),
    issuers: chain.map((l) => l.iss),
  };
}

/** Whether the capability grants `ability` (a `*` grants every ability). */
export function capabilityGrants(cap: Capability | null, ability: string): boolean {
  return cap === null || cap.can.includes('*' as never) || cap.can.includes(ability as never);
}
