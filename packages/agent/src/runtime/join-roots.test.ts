import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeJoinToken, generateEd25519 } from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { StubBackend } from '../testing/stub-backend.js';
import { runAgentCommand } from './commands.js';
import { FileStateStore } from './file-state.js';
import { checkPinnedRoots } from './join.js';
import { silentLogger } from './logger.js';

const root = generateEd25519().did;
const root2 = generateEd25519().did;
const rogue = generateEd25519().did;

let dir: string;
let cp: FakeControlPlane | null = null;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-join-roots-'));
});
afterEach(async () => {
  await cp?.stop();
  cp = null;
  rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAgentCommand(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    backend: () => new StubBackend(),
    logger: silentLogger,
  });
  return { code, stdout, stderr };
}

async function tokenFor(roots: string[], labels?: Record<string, string>): Promise<string> {
  cp = new FakeControlPlane({ tokens: { t1: { secret: 'x' } } });
  await cp.start();
  return encodeJoinToken({ url: cp.url, caFingerprint: null, roots, tokenId: 't1', secret: 'x', ...(labels ? { labels } : {}) });
}

describe('gpufleet-agent join --root', () => {
  it('refuses a token whose roots differ from --root, naming both, before enrolling', async () => {
    const token = await tokenFor([rogue]);
    const r = await run(['join', token, '--data-dir', dir, '--root', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the join token names the fleet roots ${rogue}, but --root pins ${root}`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(cp!.nodes.size).toBe(0);
    expect(new FileStateStore(dir).loadConfig()).toBeNull();
  });

  it('accepts a token naming exactly the pinned roots (any order) and keeps them', async () => {
    const token = await tokenFor([root2, root]);
    const r = await run(['join', token, '--data-dir', dir, '--root', root, '--root', root2]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fleet roots this host trusts (pinned with --root)');
    expect(r.stdout).not.toContain('pin them');
    expect(new FileStateStore(dir).loadConfig()!.roots.sort()).toEqual([root, root2].sort());
  });

  it('without --root prints the roots it will trust and how to pin them; prints the labels it vouches for', async () => {
    const token = await tokenFor([root], { region: 'eu' });
    const r = await run(['join', token, '--data-dir', dir, '--label', 'rack=r1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`fleet roots this host trusts (from the join token):\n  ${root}\n`);
    expect(r.stdout).toContain(`--root ${root}`);
    expect(r.stdout).toContain('labels this host vouches for from its join: rack=r1, region=eu');
    expect(new FileStateStore(dir).loadConfig()!.labels).toEqual({ rack: 'r1', region: 'eu' });
  });

  it('says so when the token names no root', async () => {
    const r = await run(['join', await tokenFor([]), '--data-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fleet roots: none in the join token/);
  });

  it('refuses garbage --root values and a pinned set the token lacks', () => {
    expect(() => checkPinnedRoots([root], ['did:key:nope'])).toThrow(/not an Ed25519 did:key/);
    expect(() => checkPinnedRoots([], [root])).toThrow(/names the fleet roots \(none\), but --root pins/);
    expect(() => checkPinnedRoots([root, rogue], [root])).toThrow(/refusing to join/);
    expect(checkPinnedRoots([root, root], undefined)).toEqual([root]);
  });
});
