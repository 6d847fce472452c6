import { describe, expect, it } from 'vitest';
import { signCapability } from './capability.js';
import { abilityFor, makeCommandPayload, newCommandNonce, newRunId } from './command-payload.js';
import { generateEd25519 } from './ed25519.js';
import { CommandPayload, type Ability, type Capability, type CommandSpec } from './remote-ops.js';

const root = generateEd25519();
const alice = generateEd25519();

function capWith(can: Ability[]): Capability {
  return signCapability(
    { v: 1, iss: root.did, aud: alice.did, can, on: '*', nbf: 0, exp: 4_102_444_800_000, nonce: 'nonce-0123', prf: [] },
    root.privateKeyPem,
  );
}

const script: CommandSpec = { kind: 'script', name: 'disk-check', version: 2, sha256: 'a'.repeat(64), args: [] };

describe('makeCommandPayload (shared by the CLI and the browser signer)', () => {
  it('makes a payload the schema accepts, with a fresh run id and nonce each time', () => {
    const input = {
      spec: { kind: 'argv', argv: ['echo', 'hi'] } as CommandSpec,
      selector: '  region=eu ',
      timeoutMs: 60_000,
      env: { A: '1' },
      cwd: null,
      runAs: null,
      invoker: alice.did,
      capability: null,
      now: 1_700_000_000_000,
    };
    const a = makeCommandPayload(input);
    const b = makeCommandPayload(input);
    expect(CommandPayload.safeParse(a).success).toBe(true);
    expect(a).toMatchObject({ v: 1, target: 'region=eu', issuedAt: 1_700_000_000_000, ability: 'exec/run', invoker: alice.did, env: { A: '1' } });
    expect(a.runId).not.toBe(b.runId);
    expect(a.nonce).not.toBe(b.nonce);
  });

  it('refuses a selector that does not parse, naming it', () => {
    expect(() =>
      makeCommandPayload({
        spec: { kind: 'shell', script: 'true' },
        selector: 'region in (eu',
        timeoutMs: 1000,
        env: {},
        cwd: null,
        runAs: null,
        invoker: alice.did,
        capability: null,
        now: 0,
      }),
    ).toThrow(/bad label selector 'region in \(eu'/);
  });

  it('run ids are run_ and 9 random bytes, nonces 18 random bytes, both base64url', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const id = newRunId();
      const nonce = newCommandNonce();
      expect(id).toMatch(/^run_[A-Za-z0-9_-]{12}$/);
      expect(Buffer.from(id.slice(4), 'base64url')).toHaveLength(9);
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(Buffer.from(nonce, 'base64url')).toHaveLength(18);
      ids.add(id);
    }
    expect(ids.size).toBe(200);
  });
});

describe('abilityFor', () => {
  it('argv and shell need exec/run whatever the capability', () => {
    expect(abilityFor({ kind: 'argv', argv: ['x'] }, null)).toBe('exec/run');
    expect(abilityFor({ kind: 'shell', script: 'x' }, capWith(['exec/script']))).toBe('exec/run');
  });

  it('a library script is exec/script, unless the capability grants exec/run and not exec/script', () => {
    expect(abilityFor(script, null)).toBe('exec/script');
    expect(abilityFor(script, capWith(['exec/script']))).toBe('exec/script');
    expect(abilityFor(script, capWith(['exec/run']))).toBe('exec/run');
    expect(abilityFor(script, capWith(['exec/run', 'exec/script']))).toBe('exec/script');
    expect(abilityFor(script, capWith(['*']))).toBe('exec/script');
  });

  it('a container operation needs the ability of its operation', () => {
    expect(abilityFor({ kind: 'container', op: 'logs', container: 'web' }, null)).toBe('container/logs');
    expect(abilityFor({ kind: 'container', op: 'stop', container: 'web' }, null)).toBe('container/stop');
  });
});
