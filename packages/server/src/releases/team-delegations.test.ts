import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError, type PublishTeamReleaseRequest } from '@gpufleet/protocol';
import { DAY, startReleaseKit, type ReleaseKit } from './__tests__/release-kit.js';
import { readKeyDir } from './key-dir.js';
import { metadataFile } from './release-reads.js';
import { generateTufKey, signWith, type TufSigningKey } from './tuf-keys.js';
import { parseMetadata, tufExpires } from './tuf-metadata.js';

/**
 * Teams delegated from the targets role (issue 14), through the repository over a real SQLite
 * store: what the server accepts from a team and from the targets key, and what it refuses.
 */

let kit: ReleaseKit;
let ml: TufSigningKey;

beforeEach(async () => {
  kit = await startReleaseKit();
  await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
  await kit.repo.publish(await kit.publishRequest('0.3.0'), kit.audit);
  ml = generateTufKey();
});
afterEach(async () => {
  await kit.close();
});

async function addTeam(team: string, keys: TufSigningKey[], threshold = 1) {
  return kit.repo.changeTeams(await kit.teamsRequest({ add: { team, keys, threshold } }), kit.audit);
}

async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    if (err instanceof FleetError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'accepted';
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** Team metadata written by hand (what a team with a patched CLI could send), signed by `keys`. */
function teamMetadata(o: { version: number; targets: Record<string, unknown>; keys: TufSigningKey[]; expires?: string; extra?: object }) {
  const md = parseMetadata('targets', {
    signed: { _type: 'targets', spec_version: '1.0.31', version: o.version, expires: o.expires ?? tufExpires(Date.now(), DAY), targets: o.targets, ...o.extra },
    signatures: [],
  });
  for (const k of o.keys) signWith(md, k);
  return md.toJSON() as Record<string, unknown>;
}

function bundleTarget(name: string, version: string, bytes = `bundle ${name} ${version}`) {
  const path = name === 'gpufleet-agent' ? `agent/gpufleet-agent-${version}.tgz` : `bundles/${name}/${name}-${version}.tar`;
  const kind = name === 'gpufleet-agent' ? 'agent' : 'bundle';
  return {
    path,
    entry: { [path]: { length: Buffer.byteLength(bytes), hashes: { sha256: sha(bytes) }, custom: { kind, name, version } } },
    file: { path, data: Buffer.from(bytes).toString('base64') },
  };
}

/** Top-level targets written by hand with `delegations`, signed by the targets key. */
async function topLevelWith(delegations: unknown): Promise<{ targets: Record<string, unknown> }> {
  const current = parseMetadata('targets', JSON.parse((await kit.store.getReleaseMetadata('targets'))!.json));
  const json = current.toJSON() as { signed: Record<string, unknown>; signatures: unknown[] };
  const md = parseMetadata('targets', { signed: { ...json.signed, version: current.signed.version + 1, delegations }, signatures: [] });
  signWith(md, readKeyDir(kit.keysDir).targets!.key);
  return { targets: md.toJSON() as Record<string, unknown> };
}

function mlDelegation(over: Record<string, unknown> = {}) {
  return {
    keys: { [ml.keyId]: ml.publicJson },
    roles: [{ name: 'team-ml', keyids: [ml.keyId], threshold: 1, terminating: true, paths: ['bundles/ml-*/*'], ...over }],
  };
}

describe('teams: the targets key delegates, the team signs its own bundles', () => {
  it('add a team, the team publishes, the list says who signed each release, the snapshot names the team', async () => {
    const teams = await addTeam('ml', [ml]);
    expect(teams).toEqual({
      targetsVersion: 2,
      items: [{ name: 'ml', role: 'team-ml', keyIds: [ml.keyId], threshold: 1, paths: ['bundles/ml-*/*'], version: 0, expires: null, releases: 0 }],
    });
    expect(kit.notes.at(-1)).toMatchObject({ action: 'release.teams', target: 'targets v2', details: { added: ['ml'], removed: [], changed: [] } });

    kit.clock.advance(1000);
    const list = await kit.repo.publishTeam('ml', await kit.teamPublishRequest('ml', ml, 'ml-inference', '12'), kit.audit);
    expect(list.items.map((i) => [i.kind, i.name, i.version, i.signedBy])).toEqual([
      ['bundle', 'ml-inference', '12', 'team-ml'],
      ['agent', 'gpufleet-agent', '0.3.0', 'targets'],
    ]);
    expect(kit.notes.at(-1)).toMatchObject({
      action: 'release.team-publish',
      target: 'team-ml v1',
      details: { added: ['bundles/ml-inference/ml-inference-12.tar'] },
    });
    const snapshot = JSON.parse(await metadataFile(kit.store, `${list.repository.snapshotVersion}.snapshot.json`));
    expect(snapshot.signed.meta).toEqual({ 'targets.json': { version: 2 }, 'team-ml.json': { version: 1 } });
    expect(JSON.parse(await metadataFile(kit.store, '1.team-ml.json')).signed.targets).toHaveProperty(['bundles/ml-inference/ml-inference-12.tar']);
    expect((await kit.repo.teams()).items[0]).toMatchObject({ version: 1, releases: 1 });

    // A top-level publish keeps the teams, and the snapshot keeps the team's version.
    kit.clock.advance(1000);
    const after = await kit.repo.publish(await kit.publishRequest('0.4.0'), kit.audit);
    expect(after.items.map((i) => `${i.name}@${i.version}:${i.signedBy}`)).toEqual([
      'gpufleet-agent@0.4.0:targets',
      'ml-inference@12:team-ml',
      'gpufleet-agent@0.3.0:targets',
    ]);
    const snap2 = JSON.parse(await metadataFile(kit.store, `${after.repository.snapshotVersion}.snapshot.json`));
    expect(snap2.signed.meta).toEqual({ 'targets.json': { version: 3 }, 'team-ml.json': { version: 1 } });
  });

  it('a threshold of 2: one team signature is refused, two are accepted', async () => {
    const second = generateTufKey();
    await addTeam('ml', [ml, second], 2);
    const req = await kit.teamPublishRequest('ml', ml, 'ml-a', '1');
    expect(await refusal(kit.repo.publishTeam('ml', req, kit.audit))).toMatch(
      /^invalid_argument: team-ml version 1 is not signed by team ml's key\(s\) in targets version 2: .*1\/2/,
    );
    const md = parseMetadata('targets', req.metadata);
    signWith(md, second);
    await kit.repo.publishTeam('ml', { ...req, metadata: md.toJSON() as Record<string, unknown> }, kit.audit);
    expect((await kit.repo.teams()).items[0]).toMatchObject({ threshold: 2, version: 1 });
  });

  it('removing a team drops its releases; the snapshot still names its file; re-added with a new key, it continues its versions', async () => {
    await addTeam('ml', [ml]);
    await kit.repo.publishTeam('ml', await kit.teamPublishRequest('ml', ml, 'ml-inference', '1'), kit.audit);
    const removed = await kit.repo.changeTeams(await kit.teamsRequest({ remove: 'ml' }), kit.audit);
    expect(removed).toEqual({ targetsVersion: 3, items: [] });
    expect(kit.notes.at(-1)).toMatchObject({ details: { added: [], removed: ['ml'] } });
    const list = await kit.repo.list();
    expect(list.items.map((i) => i.name)).toEqual(['gpufleet-agent']);
    expect(JSON.parse(await metadataFile(kit.store, `${list.repository.snapshotVersion}.snapshot.json`)).signed.meta['team-ml.json']).toEqual({ version: 1 });
    expect(await refusal(kit.teamPublishRequest('ml', ml, 'ml-inference', '2'))).toMatch(/^not_found: there is no team ml on the server/);
    const t = bundleTarget('ml-inference', '2');
    expect(
      await refusal(kit.repo.publishTeam('ml', { metadata: teamMetadata({ version: 2, targets: t.entry, keys: [ml] }), files: [t.file] }, kit.audit)),
    ).toMatch(/^not_found: there is no team ml/);
    expect(await refusal(kit.teamsRequest({ remove: 'ml' }))).toMatch(/^not_found: there is no team ml/);

    const rotated = generateTufKey();
    await addTeam('ml', [rotated]);
    const again = await kit.repo.publishTeam('ml', await kit.teamPublishRequest('ml', rotated, 'ml-inference', '2'), kit.audit);
    expect(again.items.filter((i) => i.signedBy === 'team-ml').map((i) => i.version)).toEqual(['2', '1']);
    expect((await kit.repo.teams()).items[0]).toMatchObject({ keyIds: [rotated.keyId], version: 2, releases: 2 });
  });

  it('adding a team that exists replaces its keys (changed), and the old key can no longer publish', async () => {
    await addTeam('ml', [ml]);
    const rotated = generateTufKey();
    await addTeam('ml', [rotated]);
    expect(kit.notes.at(-1)).toMatchObject({ details: { added: [], removed: [], changed: ['ml'] } });
    expect(await refusal(kit.teamPublishRequest('ml', ml, 'ml-a', '1'))).toMatch(/^failed_precondition: the team key given .* is not a key of team ml/);
  });

  it('the timestamp refresh re-signs the snapshot with the team still in it', async () => {
    await addTeam('ml', [ml]);
    await kit.repo.publishTeam('ml', await kit.teamPublishRequest('ml', ml, 'ml-a', '1'), kit.audit);
    kit.clock.advance(6.5 * DAY);
    expect(await kit.repo.refresh(kit.audit)).toBe('snapshot');
    const view = await kit.repo.view();
    expect(JSON.parse(await metadataFile(kit.store, `${view.snapshotVersion}.snapshot.json`)).signed.meta).toEqual({
      'targets.json': { version: 2 },
      'team-ml.json': { version: 1 },
    });
  });
});

describe("a team's publish is refused", () => {
  beforeEach(async () => {
    await addTeam('ml', [ml]);
  });

  const publish = (metadata: Record<string, unknown>, files: PublishTeamReleaseRequest['files'] = []) =>
    refusal(kit.repo.publishTeam('ml', { metadata, files }, kit.audit));

  it('signed by a key the team does not hold, or by the targets key', async () => {
    const t = bundleTarget('ml-a', '1');
    expect(await publish(teamMetadata({ version: 1, targets: t.entry, keys: [generateTufKey()] }), [t.file])).toMatch(
      /^invalid_argument: team-ml version 1 is not signed by team ml's key\(s\)/,
    );
    expect(await publish(teamMetadata({ version: 1, targets: t.entry, keys: [readKeyDir(kit.keysDir).targets!.key] }), [t.file])).toMatch(
      /not signed by team ml's key/,
    );
  });

  it("outside its paths: another team's bundle, an unprefixed bundle, an agent build", async () => {
    for (const [name, message] of [
      ['ops-a', /bundles\/ops-a\/ops-a-1.tar is outside team ml's paths \(bundles\/ml-\*\/\*\)/],
      ['inference', /is outside team ml's paths/],
      ['gpufleet-agent', /agent\/gpufleet-agent-1.tgz is an agent build, which only the targets key signs/],
    ] as const) {
      const t = bundleTarget(name, '1');
      expect(await publish(teamMetadata({ version: 1, targets: t.entry, keys: [ml] }), [t.file]), name).toMatch(message);
    }
    expect(await refusal(kit.teamPublishRequest('ml', ml, 'ops-a', '1'))).toMatch(/bundle ops-a is not team ml's: its bundles are named ml-\*/);
  });

  it('a version jump, a rollback, an expired one, one that delegates further', async () => {
    const t = bundleTarget('ml-a', '1');
    expect(await publish(teamMetadata({ version: 3, targets: t.entry, keys: [ml] }), [t.file])).toMatch(
      /^failed_precondition: the next team-ml must be version 1 \(the current one is 0\), got 3/,
    );
    await kit.repo.publishTeam('ml', await kit.teamPublishRequest('ml', ml, 'ml-a', '1'), kit.audit);
    await kit.repo.publishTeam('ml', await kit.teamPublishRequest('ml', ml, 'ml-a', '2'), kit.audit);
    expect(await publish(teamMetadata({ version: 2, targets: t.entry, keys: [ml] }))).toMatch(
      /must be version 3 \(the current one is 2\), so an older one is a rollback, got 2/,
    );
    expect(await publish(teamMetadata({ version: 3, targets: t.entry, keys: [ml], expires: tufExpires(Date.now(), -60_000) }))).toMatch(
      /^invalid_argument: team-ml version 3 expired at/,
    );
    expect(await publish(teamMetadata({ version: 3, targets: t.entry, keys: [ml], extra: { delegations: mlDelegation() } }))).toMatch(
      /team-ml version 3 delegates further/,
    );
    expect(await publish({ signed: { _type: 'root' }, signatures: [] })).toMatch(/^invalid_argument: the team-ml metadata is not targets metadata/);
    expect(await publish({ nonsense: true })).toMatch(/^invalid_argument: the team-ml metadata has no 'signed' object/);
  });

  it('a published release with other bytes, and bytes that do not match their signed hash', async () => {
    await kit.repo.publishTeam('ml', await kit.teamPublishRequest('ml', ml, 'ml-a', '1'), kit.audit);
    const other = bundleTarget('ml-a', '1', 'other bytes');
    expect(await publish(teamMetadata({ version: 2, targets: other.entry, keys: [ml] }), [other.file])).toMatch(
      /^already_exists: bundles\/ml-a\/ml-a-1.tar is published already with other bytes/,
    );
    const t = bundleTarget('ml-b', '1');
    expect(await publish(teamMetadata({ version: 2, targets: t.entry, keys: [ml] }), [{ ...t.file, data: Buffer.from('evil').toString('base64') }])).toMatch(
      /^invalid_argument: files\[0\]: .* but the signed targets say/,
    );
    expect(await publish(teamMetadata({ version: 2, targets: t.entry, keys: [ml] }))).toMatch(/were neither uploaded nor published before/);
  });

  it('garbage team names and unknown teams', async () => {
    const t = bundleTarget('ml-a', '1');
    const md = teamMetadata({ version: 1, targets: t.entry, keys: [ml] });
    for (const name of ['ML', 'team-ml', '../x', '', 'a'.repeat(33), 'm-l']) {
      expect(await refusal(kit.repo.publishTeam(name, { metadata: md, files: [] }, kit.audit)), name).toMatch(/^invalid_argument: .* is not a team name/);
    }
    expect(await refusal(kit.repo.publishTeam('ops', { metadata: md, files: [] }, kit.audit))).toMatch(/^not_found: there is no team ops/);
    // Nothing of it was stored.
    expect(await kit.store.getReleaseMetadata('team-ml')).toBeUndefined();
  });
});

describe('a change of teams is refused', () => {
  const change = async (delegations: unknown) => refusal(kit.repo.changeTeams(await topLevelWith(delegations), kit.audit));

  it('a delegation whose paths escape the team prefix, or that is not terminating, or that delegates by hash', async () => {
    for (const paths of [['bundles/*/*'], ['agent/*'], ['bundles/ml-*/*', 'bundles/ops-*/*'], ['bundles/ml*/*'], ['*']]) {
      expect(await change(mlDelegation({ paths })), paths.join()).toMatch(
        /^invalid_argument: targets version 2: team-ml may sign only its own bundles, bundles\/ml-\*\/\*; its paths .* reach beyond them/,
      );
    }
    expect(await change(mlDelegation({ terminating: false }))).toMatch(/team-ml must be terminating/);
    expect(await change(mlDelegation({ paths: undefined, path_hash_prefixes: ['ab'] }))).toMatch(/team-ml delegates by path hash prefixes/);
  });

  it("role names that are not a team's, unknown or non-Ed25519 keys, a threshold out of reach", async () => {
    expect(await change(mlDelegation({ name: 'ml' }))).toMatch(/delegates to 'ml', which is not a team's role/);
    expect(await change(mlDelegation({ name: 'team-ML' }))).toMatch(/which is not a team's role/);
    // The models refuse it while parsing, before any signature is looked at.
    const current = JSON.parse((await kit.store.getReleaseMetadata('targets'))!.json);
    const rootRole = { targets: { ...current, signed: { ...current.signed, version: 2, delegations: mlDelegation({ name: 'root' }) } } };
    expect(await refusal(kit.repo.changeTeams(rootRole, kit.audit))).toMatch(/^invalid_argument: the targets metadata is malformed: .*top-level role/);
    expect(await change(mlDelegation({ keyids: ['f'.repeat(64)] }))).toMatch(/names key ffffffffffff, which the delegations do not list/);
    expect(await change(mlDelegation({ threshold: 2 }))).toMatch(/team-ml's threshold 2 must be from 1 to its 1 key/);
    expect(await change({ ...mlDelegation(), keys: { [ml.keyId]: { keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: 'x' } } } })).toMatch(
      /delegated key .* must be an Ed25519 key/,
    );
  });

  it('not signed by the targets key, a version jump, changed targets, no change at all', async () => {
    const req = await kit.teamsRequest({ add: { team: 'ml', keys: [ml], threshold: 1 } });
    const md = parseMetadata('targets', req.targets);
    md.signatures = {};
    signWith(md, ml);
    expect(await refusal(kit.repo.changeTeams({ targets: md.toJSON() as Record<string, unknown> }, kit.audit))).toMatch(
      /^invalid_argument: targets version 2 is not signed by the targets role/,
    );
    const jumped = parseMetadata('targets', { ...req.targets, signed: { ...(req.targets.signed as object), version: 5 } });
    signWith(jumped, readKeyDir(kit.keysDir).targets!.key);
    expect(await refusal(kit.repo.changeTeams({ targets: jumped.toJSON() as Record<string, unknown> }, kit.audit))).toMatch(/must be version 2 .*got 5/);
    const changed = parseMetadata('targets', { ...req.targets, signed: { ...(req.targets.signed as object), targets: {} } });
    signWith(changed, readKeyDir(kit.keysDir).targets!.key);
    expect(await refusal(kit.repo.changeTeams({ targets: changed.toJSON() as Record<string, unknown> }, kit.audit))).toMatch(/changes the published targets/);
    expect(await change(undefined)).toMatch(/targets version 2 changes no team/);
    expect((await kit.repo.teams()).items).toEqual([]);
  });

  it("a publish by the targets key may neither change teams nor sign into a team's paths", async () => {
    await addTeam('ml', [ml]);
    // Signed as the top-level publish would be, but without the delegations.
    const req = await kit.publishRequest('0.5.0');
    const md = parseMetadata('targets', req.targets);
    const json = md.toJSON() as { signed: Record<string, unknown> };
    const stripped = parseMetadata('targets', { signed: { ...json.signed, delegations: undefined }, signatures: [] });
    signWith(stripped, readKeyDir(kit.keysDir).targets!.key);
    expect(await refusal(kit.repo.publish({ ...req, targets: stripped.toJSON() as Record<string, unknown> }, kit.audit))).toMatch(
      /^invalid_argument: targets version 3 changes the teams: a publish keeps them/,
    );
    const t = bundleTarget('ml-x', '1');
    const into = parseMetadata('targets', { signed: { ...json.signed, targets: { ...(json.signed.targets as object), ...t.entry } }, signatures: [] });
    signWith(into, readKeyDir(kit.keysDir).targets!.key);
    expect(await refusal(kit.repo.publish({ targets: into.toJSON() as Record<string, unknown>, files: [t.file] }, kit.audit))).toMatch(
      /^failed_precondition: targets version 3: bundle ml-x is in team ml's paths \(bundles\/ml-\*\/\*\): the team publishes it \(--team ml\)/,
    );
  });

  it('adding a team whose prefix holds bundles the targets key published', async () => {
    const t = bundleTarget('ml-old', '1');
    const current = parseMetadata('targets', JSON.parse((await kit.store.getReleaseMetadata('targets'))!.json));
    const json = current.toJSON() as { signed: Record<string, unknown> };
    const md = parseMetadata('targets', {
      signed: { ...json.signed, version: 2, targets: { ...(json.signed.targets as object), ...t.entry } },
      signatures: [],
    });
    signWith(md, readKeyDir(kit.keysDir).targets!.key);
    await kit.repo.publish({ targets: md.toJSON() as Record<string, unknown>, files: [t.file] }, kit.audit);
    expect(await refusal(kit.teamsRequest({ add: { team: 'ml', keys: [ml], threshold: 1 } }))).toMatch(/bundle ml-old is in team ml's paths/);
    expect(await change(mlDelegation())).toMatch(/^failed_precondition: targets version 3: bundle ml-old is in team ml's paths/);
  });
});
