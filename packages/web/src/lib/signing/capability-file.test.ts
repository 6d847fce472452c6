import { describe, expect, it } from 'vitest';
import { generateEd25519, signCapability, type Capability } from '@gpufleet/protocol';
import { capabilityGrants, parseCapabilityText, summarizeCapability } from './capability-file.js';

const root = generateEd25519();
const lead = generateEd25519();
const alice = generateEd25519();
const T = 1_760_000_000_000;

const parent = signCapability(
  {
    v: 1,
    iss: root.did,
    aud: lead.did,
    can: ['exec/run', 'container/logs'],
    on: 'region=eu',
    nbf: T - 1000,
    exp: T + 10_000_000,
    nonce: 'parent-nonce',
    prf: [],
  },
  root.privateKeyPem,
);
const child = signCapability(
  { v: 1, iss: lead.did, aud: alice.did, can: ['exec/run'], on: 'pool=train', nbf: T, exp: T + 5_000_000, nonce: 'child-nonce', prf: [parent] },
  lead.privateKeyPem,
);

describe('capability files in the browser', () => {
  it('reads a capability granted to this key, bare or inside { capability }', () => {
    expect(parseCapabilityText(JSON.stringify(child), alice.did)).toEqual(child);
    expect(parseCapabilityText(JSON.stringify({ capability: child }, null, 2), alice.did)).toEqual(child);
  });

  it('refuses one granted to another key, naming both', () => {
    expect(() => parseCapabilityText(JSON.stringify(child), lead.did)).toThrow(`this capability was granted to ${alice.did}, not to your key ${lead.did}`);
  });

  it('refuses YAML, garbage, wrong shapes and chains deeper than 8 links, saying why', () => {
    expect(() => parseCapabilityText('v: 1\niss: x', alice.did)).toThrow(/not JSON \(the dashboard reads JSON only/);
    expect(() => parseCapabilityText('null', alice.did)).toThrow(/capability is not an object/);
    expect(() => parseCapabilityText(JSON.stringify({ ...child, can: ['exec/everything'] }), alice.did)).toThrow(/capability.can is not a list of abilities/);
    expect(() => parseCapabilityText(JSON.stringify({ ...child, exp: 'tomorrow' }), alice.did)).toThrow(/nbf and .exp must be epoch milliseconds/);
    expect(() => parseCapabilityText(JSON.stringify({ ...child, prf: [{ ...parent, iss: 'me' }] }), alice.did)).toThrow(
      /capability.prf\[0\].iss is not a did:key/,
    );
    let deep: unknown = child;
    for (let i = 0; i < 9; i++) deep = { ...child, prf: [deep] };
    expect(() => parseCapabilityText(JSON.stringify(deep), alice.did)).toThrow(/deeper than 8 links/);
  });

  it('sums up what the whole chain grants: the last link’s abilities, every link’s hosts, the narrowest time window', () => {
    expect(summarizeCapability(child)).toEqual({
      can: ['exec/run'],
      on: ['region=eu', 'pool=train'],
      validFrom: T,
      expires: T + 5_000_000,
      issuers: [root.did, lead.did],
    });
    expect(capabilityGrants(child, 'exec/run')).toBe(true);
    expect(capabilityGrants(child, 'container/logs')).toBe(false);
    expect(capabilityGrants({ ...child, can: ['*'] } as Capability, 'container/stop')).toBe(true);
    expect(capabilityGrants(null, 'exec/run')).toBe(true);
  });
});
