import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetError, type ReleaseList, type ReleaseRef, type ReleaseTeamList } from '@gpufleet/protocol';
import { ReleaseVerifier, runAgentCommand, serverSource } from '@gpufleet/agent';
import { readKeyDir, readTeamSigningKey } from '@gpufleet/server';
import { downloadTarget } from '@gpufleet/sim';
import { makeSnapshot, makeTimestamp } from '../../../server/src/releases/online-signing.js';
import { signWith } from '../../../server/src/releases/tuf-keys.js';
import { parseMetadata, tufExpires } from '../../../server/src/releases/tuf-metadata.js';
import { startTestServer, type TestServer } from '../../../server/src/testing/test-server.js';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

/**
 * Teams end to end (issue 14): a real control plane, the CLI in process (keys init-team, teams
 * add / ls / remove, publish bundle --team), the agent's real verifier (tuf-js) against the
 * server, the simulator's download, and an exported team bundle side-loaded with the server
 * stopped. Where a test plays a stolen control plane it writes to the server's store directly,
 * signing with the online keys such a server would hold.
 */

let t: TestServer;
let work: string;
const at = (...p: string[]) => join(work, ...p);
const DAY = 86_400_000;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'release-teams-'));
  t = await startTestServer({}, { masterKey: 'release-teams-master-key-0123456789' });
  writeFileSync(at('agent-0.3.0.tgz'), 'gpufleet-agent 0.3.0');
  for (const v of ['1', '2', '3']) bundleFolder('ml-serving', v);
  bundleFolder('ops-tools', '1');
});
afterAll(async () => {
  await t.close();
  rmSync(work, { recursive: true, force: true });
});

function bundleFolder(name: string, version: string): void {
  const dir = at(`${name}-${version}`);
  mkdirSync(join(dir, 'files'), { recursive: true });
  writeFileSync(join(dir, 'bundle.yaml'), `name: ${name}\nversion: "${version}"\nfiles:\n  - { path: /etc/${name}/v, source: files/v, mode: "0644" }\n`);
  writeFileSync(join(dir, 'files', 'v'), `${name} ${version}\n`);
}

async function cli(...args: string[]) {
  const io = captureIo({ columns: 160, cwd: work });
  const code = await runCli([...args, '--server', t.url, '--token', t.adminToken], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

async function offline(...args: string[]) {
  const io = captureIo({ columns: 160, cwd: work });
  const code = await runCli(args, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const bundle = (version: string, name = 'ml-serving'): ReleaseRef => ({ kind: 'bundle', name, version });
const host = (name: string) => new ReleaseVerifier(at('hosts', name, 'releases'), serverSource(t.url, null));

async function refusal(name: string, ref: ReleaseRef): Promise<string> {
  try {
    await host(name).verify(ref);
  } catch (err) {
    if (err instanceof FleetError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'accepted';
}

const store = () => t.server.context.store;

/** A stolen control plane: signs a snapshot naming `meta` (file → version) and a timestamp for it, and stores them with `extra`. */
async function serveAsAttacker(meta: Record<string, number>, extra: Parameters<ReturnType<typeof store>['commitRelease']>[0] = { metadata: [] }) {
  const kd = readKeyDir(at('keys'));
  const snapshotVersion = (await store().getReleaseMetadata('snapshot'))!.version + 1;
  const { 'targets.json': targetsVersion, ...rest } = meta;
  const snap = makeSnapshot({
    version: snapshotVersion,
    targetsVersion: targetsVersion!,
    delegated: Object.fromEntries(Object.entries(rest).map(([f, v]) => [f.replace(/\.json$/, ''), v])),
    expires: tufExpires(Date.now(), DAY),
    signers: [kd.snapshot!.key],
  });
  const ts = makeTimestamp({
    version: (await store().getReleaseMetadata('timestamp'))!.version + 1,
    snapshotVersion,
    snapshotText: snap.text,
    expires: tufExpires(Date.now(), DAY),
    signers: [kd.timestamp!.key],
  });
  await store().commitRelease({
    ...extra,
    metadata: [
      ...extra.metadata,
      { role: 'snapshot', version: snapshotVersion, json: snap.text, createdAt: Date.now() },
      { role: 'timestamp', version: (await store().getReleaseMetadata('timestamp'))!.version + 1, json: ts.text, createdAt: Date.now() },
    ],
  });
}

async function snapshotMeta(): Promise<Record<string, number>> {
  const snap = JSON.parse((await store().getReleaseMetadata('snapshot'))!.json) as { signed: { meta: Record<string, { version: number }> } };
  return Object.fromEntries(Object.entries(snap.signed.meta).map(([f, m]) => [f, m.version]));
}

describe('teams sign their own bundles, end to end', () => {
  it('keys init-team, teams add, publish bundle --team, ls says who signed it', async () => {
    expect((await offline('releases', 'keys', 'init', '--dir', 'keys')).code).toBe(0);
    expect((await cli('releases', 'keys', 'upload', '--dir', 'keys')).code).toBe(0);
    expect((await cli('releases', 'publish', 'agent', 'agent-0.3.0.tgz', '--version', '0.3.0', '--keys', 'keys')).code).toBe(0);

    const init = await offline('releases', 'keys', 'init-team', 'ml', '--out', 'ml-keys');
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^team key made for ml: key id [0-9a-f]{64}\n/);
    expect(statSync(at('ml-keys', 'ml.pem')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(at('ml-keys', 'ml.pub.json'), 'utf8'))).toMatchObject({ keytype: 'ed25519', scheme: 'ed25519' });
    expect((await offline('releases', 'keys', 'init-team', 'ml', '--out', 'ml-keys')).stderr).toMatch(/ml.pem exists: refusing to overwrite a key/);

    const add = await cli('releases', 'teams', 'add', 'ml', '--key', 'ml-keys/ml.pub.json', '--dir', 'keys');
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/^added team ml \(targets version 2\): bundles bundles\/ml-\*\/\*, 1 of key\(s\) [0-9a-f]{12}\n/);
    const ls = await cli('releases', 'teams', 'ls');
    expect(ls.stdout).toMatch(/^NAME\s+PATHS\s+KEYS\s+THRESHOLD\s+VERSION\s+RELEASES\nml\s+bundles\/ml-\*\/\*\s+[0-9a-f]{12}\s+1\s+0\s+0\n$/);

    const pub = await cli(
      'releases',
      'publish',
      'bundle',
      'ml-serving-1',
      '--name',
      'ml-serving',
      '--version',
      '1',
      '--team',
      'ml',
      '--team-key',
      'ml-keys/ml.pem',
    );
    expect(pub.code, pub.stderr).toBe(0);
    expect(pub.stdout).toMatch(/^published bundle ml-serving@1 \(signed by team ml\): bundles\/ml-serving\/ml-serving-1.tar, /);
    const rl = await cli('releases', 'ls');
    const lines = rl.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KIND\s+NAME\s+VERSION\s+SHA256\s+SIZE\s+PUBLISHED\s+SIGNED BY$/);
    expect(
      lines
        .slice(1)
        .map((l) => l.split(/\s+/))
        .map((w) => [w[1], w.at(-1)]),
    ).toEqual([
      ['ml-serving', 'team-ml'],
      ['gpufleet-agent', 'targets'],
    ]);
    const json = JSON.parse((await cli('releases', 'teams', 'ls', '-o', 'json')).stdout) as ReleaseTeamList;
    expect(json.items[0]).toMatchObject({ name: 'ml', role: 'team-ml', version: 1, releases: 1 });
  });

  it("the agent's verifier accepts the team's bundle through the delegation; the simulator downloads it the same way", async () => {
    ReleaseVerifier.trustRoot(at('hosts', 'a', 'releases'), readFileSync(at('keys', '1.root.json'), 'utf8'));
    const r = await host('a').verify(bundle('1'));
    expect(r).toMatchObject({ kind: 'bundle', name: 'ml-serving', version: '1', targetPath: 'bundles/ml-serving/ml-serving-1.tar' });
    const listed = (await t.api('GET', '/api/v1/releases')).body as ReleaseList;
    expect(createHash('sha256').update(readFileSync(r.file)).digest('hex')).toBe(listed.items.find((i) => i.name === 'ml-serving')!.sha256);
    const bytes = await downloadTarget({ url: t.url }, 'bundles/ml-serving/ml-serving-1.tar');
    const teamMetadata = (await t.api('GET', '/tuf/metadata/1.team-ml.json')).text.length;
    expect(bytes).toBeGreaterThan(r.length + teamMetadata);
    await expect(downloadTarget({ url: t.url }, 'bundles/ml-other/ml-other-1.tar')).rejects.toThrow(/nor in a role it delegates to/);
  });

  it('exports the team bundle with the metadata a host needs offline', async () => {
    const exp = await cli('releases', 'export', 'ml-serving@1', '--out', 'ml-serving-1.tar');
    expect(exp.code, exp.stderr).toBe(0);
    expect(readFileSync(at('ml-serving-1.tar')).includes(Buffer.from('metadata/1.team-ml.json'))).toBe(true);
  });

  it('refuses what the team may not publish, and garbage keys and names, with one line', async () => {
    expect((await offline('releases', 'keys', 'init-team', 'other', '--out', 'other-keys')).code).toBe(0);
    writeFileSync(at('garbage.pub.json'), 'not json');
    writeFileSync(at('rsa.pub.json'), JSON.stringify({ keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: 'x' } }));
    writeFileSync(at('short.pub.json'), JSON.stringify({ keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'abc' } }));
    writeFileSync(at('garbage.pem'), 'not a key');
    const team = ['--team', 'ml', '--team-key', 'ml-keys/ml.pem'];
    const cases: Array<[string[], RegExp, number]> = [
      [
        ['releases', 'publish', 'bundle', 'ops-tools-1', '--name', 'ops-tools', '--version', '1', ...team],
        /bundle ops-tools is not team ml's: its bundles are named ml-\*/,
        2,
      ],
      [
        ['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2', '--team', 'ml', '--team-key', 'other-keys/other.pem'],
        /the team key given .* is not a key of team ml/,
        1,
      ],
      [
        ['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2', '--team', 'ml', '--team-key', 'garbage.pem'],
        /garbage.pem is not an Ed25519 private key in PEM/,
        2,
      ],
      [
        ['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2', '--team', 'ml', '--team-key', 'none.pem'],
        /cannot read the team key .*none.pem: ENOENT/,
        1,
      ],
      [
        ['releases', 'publish', 'bundle', 'ml-serving-1', '--name', 'ml-serving', '--version', '1', ...team],
        /bundle ml-serving 1 is published already \(.*the same bytes\)/,
        1,
      ],
      [
        ['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2', '--team', 'ops', '--team-key', 'other-keys/other.pem'],
        /there is no team ops on the server/,
        1,
      ],
      [
        ['releases', 'publish', 'agent', 'agent-0.3.0.tgz', '--version', '0.4.0', ...team],
        /--team is for bundles: an agent build is signed by the targets key/,
        2,
      ],
      [['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2', '--team', 'ml'], /needs both --team NAME and --team-key/, 2],
      [['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2', ...team, '--keys', 'keys'], /not both/, 2],
      [
        ['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2', '--team', 'M-L', '--team-key', 'x.pem'],
        /--team 'M-L' is not a team name/,
        2,
      ],
      [
        ['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2'],
        /give --keys DIR \(the targets key\), or for a team's bundle --team/,
        2,
      ],
      [
        ['releases', 'publish', 'bundle', 'ml-serving-2', '--name', 'ml-serving', '--version', '2', '--keys', 'keys'],
        /bundle ml-serving is in team ml's paths .* the team publishes it \(--team ml\)/,
        1,
      ],
      [['releases', 'teams', 'add', 'ops', '--key', 'garbage.pub.json', '--dir', 'keys'], /garbage.pub.json is not JSON/, 2],
      [['releases', 'teams', 'add', 'ops', '--key', 'rsa.pub.json', '--dir', 'keys'], /rsa.pub.json must be an Ed25519 key/, 2],
      [['releases', 'teams', 'add', 'ops', '--key', 'short.pub.json', '--dir', 'keys'], /short.pub.json has no keyval.public of 64 lowercase hex digits/, 2],
      [
        ['releases', 'teams', 'add', 'ops', '--key', 'other-keys/other.pem', '--dir', 'keys'],
        /holds a private key: give the team's NAME.pub.json, never its .pem/,
        2,
      ],
      [
        ['releases', 'teams', 'add', 'ops', '--key', 'other-keys/other.pub.json', '--dir', 'keys', '--threshold', '2'],
        /--threshold 2 is more than the 1 --key file/,
        2,
      ],
      [['releases', 'teams', 'add', 'ops', '--dir', 'keys'], /required option '--key <file>'/, 2],
      [['releases', 'teams', 'add', 'team-ops', '--key', 'other-keys/other.pub.json', '--dir', 'keys'], /'team-ops' is not a team name/, 2],
      [['releases', 'teams', 'add', 'root', '--key', 'other-keys/other.pub.json', '--dir', 'nowhere'], /nowhere is not a folder of release keys/, 1],
      [['releases', 'teams', 'remove', 'ops', '--dir', 'keys'], /there is no team ops/, 1],
      [['releases', 'keys', 'init-team', '../x', '--out', 'x'], /'..\/x' is not a team name/, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    // Nothing of it reached the repository.
    expect(((await t.api('GET', '/api/v1/releases/teams')).body as ReleaseTeamList).items.map((i) => [i.name, i.version])).toEqual([['ml', 1]]);
  });

  it('refuses team metadata that expired after it was published', async () => {
    const pub2 = await cli(
      'releases',
      'publish',
      'bundle',
      'ml-serving-2',
      '--name',
      'ml-serving',
      '--version',
      '2',
      '--team',
      'ml',
      '--team-key',
      'ml-keys/ml.pem',
    );
    expect(pub2.code, pub2.stderr).toBe(0);
    expect((await host('a').verify(bundle('2'))).version).toBe('2');
    const pub3 = await cli(
      'releases',
      'publish',
      'bundle',
      'ml-serving-3',
      '--name',
      'ml-serving',
      '--version',
      '3',
      '--team',
      'ml',
      '--team-key',
      'ml-keys/ml.pem',
      '--expires',
      '2s',
    );
    expect(pub3.code, pub3.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await refusal('a', bundle('3'))).toMatch(/^failed_precondition: release refused: .*team-ml.json is expired/);
  });

  it('refuses a target a team key signed outside its paths, served by a stolen control plane', async () => {
    // team-ml's next version, signed by the team's real key, listing an agent build and another team's bundle.
    const current = JSON.parse((await store().getReleaseMetadata('team-ml'))!.json);
    const evil = Buffer.from('evil');
    const sha256 = createHash('sha256').update(evil).digest('hex');
    const entry = (kind: string, name: string, version: string) => ({ length: evil.length, hashes: { sha256 }, custom: { kind, name, version } });
    const md = parseMetadata('targets', {
      signed: {
        ...current.signed,
        version: current.signed.version + 1,
        expires: tufExpires(Date.now(), DAY),
        targets: {
          ...current.signed.targets,
          'agent/gpufleet-agent-6.6.6.tgz': entry('agent', 'gpufleet-agent', '6.6.6'),
          'bundles/ops-tools/ops-tools-9.tar': entry('bundle', 'ops-tools', '9'),
        },
      },
      signatures: [],
    });
    signWith(md, readTeamSigningKey(at('ml-keys', 'ml.pem')));
    const v = md.signed.version;
    await serveAsAttacker(
      { ...(await snapshotMeta()), 'team-ml.json': v },
      {
        metadata: [{ role: 'team-ml', version: v, json: JSON.stringify(md.toJSON()), createdAt: Date.now() }],
        blobs: [{ sha256, length: evil.length, bytes: new Uint8Array(evil), createdAt: Date.now() }],
        targets: [
          {
            path: 'agent/gpufleet-agent-6.6.6.tgz',
            sha256,
            length: evil.length,
            kind: 'agent',
            name: 'gpufleet-agent',
            version: '6.6.6',
            targetsVersion: v,
            publishedAt: Date.now(),
          },
          {
            path: 'bundles/ops-tools/ops-tools-9.tar',
            sha256,
            length: evil.length,
            kind: 'bundle',
            name: 'ops-tools',
            version: '9',
            targetsVersion: v,
            publishedAt: Date.now(),
          },
        ],
      },
    );
    expect(await refusal('a', { kind: 'agent', name: 'gpufleet-agent', version: '6.6.6' })).toMatch(/^not_found: agent 6.6.6 is not among the signed releases/);
    expect(await refusal('a', bundle('9', 'ops-tools'))).toMatch(/^not_found: bundle 9 is not among the signed releases/);
    // What the team may sign still verifies from the same metadata.
    expect((await host('a').verify(bundle('2'))).version).toBe('2');
  });

  it("refuses a snapshot that rolls the team's metadata back, after the host has seen a newer one", async () => {
    const good = await snapshotMeta();
    await serveAsAttacker({ ...good, 'team-ml.json': 1 });
    expect(await refusal('a', bundle('1'))).toMatch(/^failed_precondition: release refused: .*New version 1 of team-ml.json is less than current version \d/);
    // A fresh host that never saw the newer version takes what it is given: the rollback check is the host's memory.
    ReleaseVerifier.trustRoot(at('hosts', 'b', 'releases'), readFileSync(at('keys', '1.root.json'), 'utf8'));
    expect((await host('b').verify(bundle('1'))).version).toBe('1');
    await serveAsAttacker(good);
    expect((await host('a').verify(bundle('2'))).version).toBe('2');
  });

  it('refuses the team bundles once the team is removed; the list drops them', async () => {
    const rm = await cli('releases', 'teams', 'remove', 'ml', '--dir', 'keys');
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toMatch(/^removed team ml \(targets version 3\)\n$/);
    expect(await refusal('a', bundle('2'))).toMatch(/^not_found: bundle 2 is not among the signed releases/);
    expect(((await t.api('GET', '/api/v1/releases')).body as ReleaseList).items.map((i) => i.name)).toEqual(['gpufleet-agent']);
    expect((await cli('releases', 'teams', 'ls')).stderr).toMatch(/no teams/);
    expect((await cli('releases', 'export', 'ml-serving@2', '--out', 'gone.tar')).stderr).toMatch(/ml-serving@2 is not published on this server/);
  });

  it('side-loads the exported team bundle with the server stopped, verified through the delegation', async () => {
    await t.server.stop();
    let stdout = '';
    let stderr = '';
    const code = await runAgentCommand(['sideload', at('ml-serving-1.tar'), '--data-dir', at('hosts', 'offline'), '--root', at('keys', '1.root.json')], {
      stdout: (s) => void (stdout += s),
      stderr: (s) => void (stderr += s),
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^verified bundle ml-serving 1 \(root version 1\)\n {2}target: {2}bundles\/ml-serving\/ml-serving-1.tar\n/);
  });
});
