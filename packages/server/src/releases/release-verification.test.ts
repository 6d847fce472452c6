import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { offlineSource, ReleaseVerifier, type FileLookup } from '@gpufleet/agent';
import { DAY, startReleaseKit, type ReleaseKit } from './__tests__/release-kit.js';
import { buildRoot, signAll } from './root-signing.js';
import { readKeyDir, signNextRoot } from './key-dir.js';
import { makeSnapshot, makeTimestamp } from './online-signing.js';
import { metadataFile, targetFile } from './release-reads.js';
import { generateTufKey, signWith } from './tuf-keys.js';
import { metadataText, parseMetadata, tufExpires } from './tuf-metadata.js';

/**
 * The agent's verifier (tuf-js) against this repository: what a host accepts and what it refuses.
 * The files come straight from the repository's reads, through `overrides` where a test plays
 * the attacker (a mirror or a stolen server that serves other bytes).
 */

let kit: ReleaseKit;
let hostDir: string;
let overrides: Map<string, string | Uint8Array>;

const repoLookup: FileLookup = async (relative) => {
  const forced = overrides.get(relative);
  if (forced !== undefined) return typeof forced === 'string' ? new Uint8Array(Buffer.from(forced)) : forced;
  try {
    if (relative.startsWith('metadata/')) return new Uint8Array(Buffer.from(await metadataFile(kit.store, relative.slice('metadata/'.length))));
    if (relative.startsWith('targets/')) return await targetFile(kit.store, relative.slice('targets/'.length));
  } catch (err) {
    if (FleetError.is(err, 'not_found')) return undefined;
    throw err;
  }
  return undefined;
};

function verifier(): ReleaseVerifier {
  return new ReleaseVerifier(join(hostDir, 'releases'), offlineSource(repoLookup, 'the test repository'));
}

async function refusal(version = '0.3.0'): Promise<string> {
  try {
    await verifier().verify({ kind: 'agent', name: 'gpufleet-agent', version });
  } catch (err) {
    if (err instanceof FleetError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'accepted';
}

const AGENT = Buffer.from('the agent 0.3.0 tarball');
const AGENT_SHA = createHash('sha256').update(AGENT).digest('hex');
const TARGET = `targets/agent/${AGENT_SHA}.gpufleet-agent-0.3.0.tgz`;

beforeEach(async () => {
  kit = await startReleaseKit();
  await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
  await kit.repo.publish(await kit.publishRequest('0.3.0', new Uint8Array(AGENT)), kit.audit);
  hostDir = mkdtempSync(join(tmpdir(), 'release-host-'));
  overrides = new Map();
  ReleaseVerifier.trustRoot(join(hostDir, 'releases'), readFileSync(join(kit.keysDir, '1.root.json'), 'utf8'));
});
afterEach(async () => {
  await kit.close();
  rmSync(hostDir, { recursive: true, force: true });
});

/** A timestamp for `snapshotText`, signed with the real timestamp key (what a compromised server could sign). */
function timestampFor(version: number, snapshot: { version: number; text: string }, expires: string): string {
  return makeTimestamp({ version, snapshotVersion: snapshot.version, snapshotText: snapshot.text, expires, signers: [readKeyDir(kit.keysDir).timestamp!.key] })
    .text;
}

describe('the agent verifier accepts', () => {
  it('a good release: the verified bytes, their hash and what the targets key signed about them', async () => {
    const r = await verifier().verify({ kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' });
    expect(r).toMatchObject({
      kind: 'agent',
      name: 'gpufleet-agent',
      version: '0.3.0',
      targetPath: 'agent/gpufleet-agent-0.3.0.tgz',
      sha256: AGENT_SHA,
      length: AGENT.length,
      rootVersion: 1,
    });
    expect(readFileSync(r.file).equals(AGENT)).toBe(true);
  });

  it('a root rotated by sign-root: the host follows it, signed by a threshold of the old keys', async () => {
    rmSync(join(kit.keysDir, 'root-1.pem'));
    writeFileSync(join(kit.keysDir, 'root-1.pem'), generateTufKey().privateKeyPem);
    const { rootFile } = signNextRoot({ dir: kit.keysDir, validMs: 365 * DAY, now: kit.clock.now() });
    await kit.repo.rotateRoot({ root: JSON.parse(readFileSync(rootFile, 'utf8')) }, kit.audit);
    const r = await verifier().verify({ kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' });
    expect(r.rootVersion).toBe(2);
    expect(ReleaseVerifier.trustedRootVersion(join(hostDir, 'releases'))).toBe(2);
  });
});

describe('the agent verifier refuses', () => {
  it('a tampered target: other bytes of the same length, or longer ones', async () => {
    overrides.set(TARGET, new Uint8Array(Buffer.from('the agent 6.6.6 tarball')));
    expect(await refusal()).toMatch(/^failed_precondition: release refused: .*hash/i);
    overrides.set(TARGET, new Uint8Array(Buffer.concat([AGENT, Buffer.from('!')])));
    expect(await refusal()).toMatch(/^failed_precondition: release refused: .*(length|Max length)/i);
  });

  it('an expired timestamp, even one signed with the timestamp key', async () => {
    const snapshot = { version: 1, text: await metadataFile(kit.store, '1.snapshot.json') };
    overrides.set('metadata/timestamp.json', timestampFor(2, snapshot, tufExpires(Date.now(), -60_000)));
    expect(await refusal()).toMatch(/^failed_precondition: release refused: .*timestamp.json is expired/);
  });

  it('a rolled-back snapshot version, after the host has seen a newer one', async () => {
    kit.clock.advance(1000);
    await kit.repo.publish(await kit.publishRequest('0.4.0'), kit.audit);
    expect((await verifier().verify({ kind: 'agent', name: 'gpufleet-agent', version: '0.4.0' })).version).toBe('0.4.0');
    // A newer timestamp, properly signed, that points back at snapshot 1.
    const old = { version: 1, text: await metadataFile(kit.store, '1.snapshot.json') };
    overrides.set('metadata/timestamp.json', timestampFor(3, old, tufExpires(Date.now(), DAY)));
    expect(await refusal()).toMatch(/^failed_precondition: release refused: New snapshot version 1 is less than current version 2/);
    // The old timestamp itself (a replayed, validly signed file) is refused as well.
    overrides.set('metadata/timestamp.json', (await kit.store.getReleaseMetadata('timestamp', 1))!.json);
    expect(await refusal()).toMatch(/^failed_precondition: release refused: New timestamp version 1 is less than current version 2/);
  });

  it('targets metadata signed by the snapshot key instead of the targets key', async () => {
    const kd = readKeyDir(kit.keysDir);
    const next = await kit.publishRequest('0.4.0');
    const forged = parseMetadata('targets', next.targets);
    forged.signatures = {};
    signWith(forged, kd.snapshot!.key);
    // The server would refuse it; a stolen server serves it anyway, with a snapshot and timestamp it can sign.
    const snapshot = makeSnapshot({ version: 2, targetsVersion: 2, expires: tufExpires(Date.now(), DAY), signers: [kd.snapshot!.key] });
    overrides.set('metadata/2.targets.json', metadataText(forged));
    overrides.set('metadata/2.snapshot.json', snapshot.text);
    overrides.set('metadata/timestamp.json', timestampFor(2, { version: 2, text: snapshot.text }, tufExpires(Date.now(), DAY)));
    expect(await refusal('0.4.0')).toMatch(/^failed_precondition: release refused: .*targets was signed by 0\/1 keys/);
  });

  it('a new root not signed by a threshold of the old root keys', async () => {
    const made = [generateTufKey(), generateTufKey()];
    const kd = readKeyDir(kit.keysDir);
    const root = buildRoot({
      version: 2,
      expires: tufExpires(Date.now(), DAY),
      keys: { root: made, targets: [kd.targets!.key], snapshot: [kd.snapshot!.key], timestamp: [kd.timestamp!.key] },
      thresholds: { root: 1 },
    });
    signAll(root, [...made, kd.rootKeys[0]!.key]);
    overrides.set('metadata/2.root.json', metadataText(root));
    expect(await refusal()).toMatch(/^failed_precondition: release refused: root was signed by 1\/2 keys/);
  });

  it('with no trusted root, an unknown version, a bad version, or a repository that cannot be read', async () => {
    rmSync(join(hostDir, 'releases', 'metadata', 'root.json'));
    expect(await refusal()).toMatch(/^failed_precondition: this host trusts no release root yet/);
    ReleaseVerifier.trustRoot(join(hostDir, 'releases'), readFileSync(join(kit.keysDir, '1.root.json'), 'utf8'));
    expect(() => ReleaseVerifier.trustRoot(join(hostDir, 'releases'), '{}')).toThrow(/not TUF root metadata/);
    expect(() => ReleaseVerifier.trustRoot(join(hostDir, 'releases'), readFileSync(join(kit.keysDir, '1.root.json'), 'utf8'))).toThrow(
      /trusts a release root already/,
    );
    expect(await refusal('9.9.9')).toMatch(/^not_found: agent 9.9.9 is not among the signed releases/);
    expect(await refusal('../x')).toMatch(/^invalid_argument: '..\/x' is not a release version/);
    overrides.set('metadata/timestamp.json', 'not json');
    expect(await refusal()).toMatch(/^failed_precondition: release refused/);
  });
});
