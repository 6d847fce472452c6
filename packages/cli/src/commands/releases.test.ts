import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReleaseVerifier, runAgentCommand, serverSource } from '@gpufleet/agent';
import { generateTufKey } from '@gpufleet/server';
import { startTestServer, type TestServer } from '../../../server/src/testing/test-server.js';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

/**
 * Signed releases end to end (issue 14): a real control plane, the CLI in process, the agent's
 * verifier against the server, and sideload of the exported tar with the server stopped.
 */

let t: TestServer;
let work: string;
const keys = () => join(work, 'keys');
const AGENT = Buffer.from(`#!/bin/sh\necho gpufleet-agent 0.3.0\n${'x'.repeat(70_000)}`);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'releases-cli-'));
  t = await startTestServer({}, { masterKey: 'releases-test-master-key-0123456789' });
  writeFileSync(join(work, 'gpufleet-agent-0.3.0.tgz'), AGENT);
});
afterAll(async () => {
  await t.close();
  rmSync(work, { recursive: true, force: true });
});

async function cli(...args: string[]) {
  const io = captureIo({ columns: 120, cwd: work });
  const code = await runCli([...args, '--server', t.url, '--token', t.adminToken], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

async function offline(...args: string[]) {
  const io = captureIo({ columns: 120, cwd: work });
  const code = await runCli(args, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

async function agent(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAgentCommand(args, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

describe('gpufleet releases, end to end', () => {
  it('keys init (offline) → keys upload → publish → ls', async () => {
    const init = await offline('releases', 'keys', 'init', '--dir', 'keys');
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/release keys made in keys: 3 root keys \(2 must sign a new root\)/);
    expect(existsSync(join(keys(), '1.root.json'))).toBe(true);

    const up = await cli('releases', 'keys', 'upload', '--dir', 'keys');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toBe('the server now has root version 1 (sent 1); online keys: held\n');

    const pub = await cli('releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '0.3.0', '--keys', 'keys');
    expect(pub.code, pub.stderr).toBe(0);
    const sha = createHash('sha256').update(AGENT).digest('hex');
    expect(pub.stdout).toContain(`published agent 0.3.0 (targets version 1): agent/gpufleet-agent-0.3.0.tgz, 68.4 KiB, sha256 ${sha}`);

    const ls = await cli('releases', 'ls');
    expect(ls.code, ls.stderr).toBe(0);
    const [header, row, ...rest] = ls.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^KIND\s+NAME\s+VERSION\s+SHA256\s+SIZE\s+PUBLISHED\s+SIGNED BY$/);
    expect(row).toMatch(new RegExp(`^agent\\s+gpufleet-agent\\s+0\\.3\\.0\\s+${sha.slice(0, 12)}\\s+68\\.4 KiB\\s+.*\\s+targets$`));
    expect(rest).toEqual([]);
    const json = JSON.parse((await cli('releases', 'ls', '-o', 'json')).stdout);
    expect(json.repository).toMatchObject({ rootVersion: 1, targetsVersion: 1, snapshotVersion: 1, timestampVersion: 1, onlineKeys: true });
    expect((await cli('releases', 'list', '-o', 'yaml')).stdout).toMatch(/^items:\n\s+- kind: agent$/m);
    expect((await cli('releases', 'ls', '-o', 'wide')).stdout).toMatch(/PATH\n.*agent\/gpufleet-agent-0\.3\.0\.tgz/);
  });

  it('the agent verifier fetches and verifies the release from the server', async () => {
    const host = join(work, 'host-online', 'releases');
    ReleaseVerifier.trustRoot(host, readFileSync(join(keys(), '1.root.json'), 'utf8'));
    const r = await new ReleaseVerifier(host, serverSource(t.url, null)).verify({ kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' });
    expect(readFileSync(r.file).equals(AGENT)).toBe(true);
    expect(r).toMatchObject({ version: '0.3.0', rootVersion: 1, length: AGENT.length });
    await expect(new ReleaseVerifier(host, serverSource(t.url, null)).verify({ kind: 'agent', name: 'gpufleet-agent', version: '0.9.9' })).rejects.toThrow(
      /agent 0.9.9 is not among the signed releases/,
    );
  });

  it('refuses garbage flags and files with one line', async () => {
    const cases: Array<[string[], RegExp, number]> = [
      [['releases', 'keys', 'init'], /required option '--dir <dir>'/, 2],
      [['releases', 'keys', 'init', '--dir', 'k2', '--root-keys', '0'], /--root-keys '0' must be a whole number from 1 to 16/, 2],
      [['releases', 'keys', 'init', '--dir', 'k2', '--root-keys', '2', '--root-threshold', '3'], /--root-threshold must be from 1 to the 2 root key/, 2],
      [['releases', 'keys', 'init', '--dir', 'k2', '--expires-root', '1y'], /--expires-root '1y' is not a duration/, 2],
      [['releases', 'keys', 'init', '--dir', 'keys'], /already holds release keys/, 1],
      [['releases', 'keys', 'upload', '--dir', 'nowhere'], /nowhere is not a folder of release keys/, 1],
      [['releases', 'keys', 'sign-root', '--dir', 'keys', '--old-key', 'none.pem'], /cannot read --old-key none.pem: ENOENT/, 1],
      [
        ['releases', 'publish', 'plugin', 'gpufleet-agent-0.3.0.tgz', '--version', '1', '--keys', 'keys'],
        /'plugin' is not a release kind: publish agent FILE or bundle FOLDER/,
        2,
      ],
      [['releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '1', '--name', 'x', '--keys', 'keys'], /--name is for bundles/, 2],
      [['releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '../0.3', '--keys', 'keys'], /--version '..\/0.3' must be/, 2],
      [['releases', 'publish', 'agent', 'missing.tgz', '--version', '0.5.0', '--keys', 'keys'], /cannot read missing.tgz: ENOENT/, 1],
      [
        ['releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '0.3.0', '--keys', 'keys'],
        /agent gpufleet-agent 0.3.0 is published already \(.*the same bytes\)/,
        1,
      ],
      [['releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '0.5.0'], /give --keys DIR \(the targets key\)/, 2],
      [['releases', 'export', 'agent-0.3.0', '--out', 'x.tar'], /'agent-0.3.0' is not a release: write agent@VERSION or BUNDLE@VERSION/, 2],
      [['releases', 'export', 'agent@7.7.7', '--out', 'x.tar'], /agent@7.7.7 is not published on this server/, 1],
      [['releases', 'export', 'agent@0.3.0', '-o', 'offline.tar'], /argument 'offline.tar' is invalid/, 2],
      [['releases', 'ls', '--all'], /unknown option '--all'/, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    mkdirSync(join(work, 'no-targets'));
    const kd = await offline('releases', 'keys', 'init', '--dir', 'no-targets/k');
    expect(kd.code).toBe(0);
    rmSync(join(work, 'no-targets', 'k', 'targets.pem'));
    expect((await cli('releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '0.6.0', '--keys', 'no-targets/k')).stderr).toMatch(
      /holds no targets.pem/,
    );
    // Keys of another repository: the server refuses them, naming the role.
    const other = await cli('releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '0.6.0', '--keys', 'keys');
    expect(other.code, other.stderr).toBe(0);
    writeFileSync(join(work, 'no-targets', 'k', 'targets.pem'), generateTufKey().privateKeyPem);
    expect((await cli('releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '0.7.0', '--keys', 'no-targets/k')).stderr).toMatch(
      /the targets key given .* is not a targets key of root version 1 on the server/,
    );
    expect((await cli('releases', 'keys', 'upload', '--dir', 'no-targets/k')).stderr).toMatch(/snapshotKey .* is not the snapshot key of root version 1/);
  });

  it('--help teaches with examples', async () => {
    for (const args of [
      ['releases'],
      ['releases', 'keys'],
      ['releases', 'keys', 'init'],
      ['releases', 'keys', 'sign-root'],
      ['releases', 'keys', 'upload'],
      ['releases', 'keys', 'init-team'],
      ['releases', 'teams'],
      ['releases', 'teams', 'add'],
      ['releases', 'teams', 'ls'],
      ['releases', 'teams', 'remove'],
      ['releases', 'publish'],
      ['releases', 'ls'],
      ['releases', 'export'],
    ]) {
      const r = await offline(...args, '--help');
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/Examples:\n\s+gpufleet releases /);
    }
  });

  it('a root rotated offline by sign-root is uploaded and followed by a host that trusts root 1', async () => {
    rmSync(join(keys(), 'root-2.pem'));
    writeFileSync(join(keys(), 'root-2.pem'), generateTufKey().privateKeyPem);
    const sign = await offline('releases', 'keys', 'sign-root', '--dir', 'keys');
    expect(sign.code, sign.stderr).toBe(0);
    expect(sign.stdout).toMatch(/^root version 2 signed: .*2\.root\.json \(changed: root;/);
    // With the online keys moved off this machine, upload sends the root alone (POST /root).
    mkdirSync(join(work, 'vault'));
    renameSync(join(keys(), 'snapshot.pem'), join(work, 'vault', 'snapshot.pem'));
    renameSync(join(keys(), 'timestamp.pem'), join(work, 'vault', 'timestamp.pem'));
    const up = await cli('releases', 'keys', 'upload', '--dir', 'keys');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toBe('the server now has root version 2 (sent 2); online keys: held\n');
    expect((await cli('releases', 'keys', 'upload', '--dir', 'keys')).stderr).toMatch(/nothing to send/);
    const host = join(work, 'host-rotated', 'releases');
    ReleaseVerifier.trustRoot(host, readFileSync(join(keys(), '1.root.json'), 'utf8'));
    const r = await new ReleaseVerifier(host, serverSource(t.url, null)).verify({ kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' });
    expect(r.rootVersion).toBe(2);
    renameSync(join(work, 'vault', 'snapshot.pem'), join(keys(), 'snapshot.pem'));
    renameSync(join(work, 'vault', 'timestamp.pem'), join(keys(), 'timestamp.pem'));
  });

  it('export → sideload with the server stopped, verified exactly as online', async () => {
    const exp = await cli('releases', 'export', 'agent@0.3.0', '--out', 'offline.tar');
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stdout).toMatch(/^wrote offline.tar \(.*\): agent 0.3.0, agent\/gpufleet-agent-0.3.0.tgz; sideload it before \d{4}-/);
    await t.server.stop();

    const data = join(work, 'host-offline');
    const noRoot = await agent('sideload', join(work, 'offline.tar'), '--data-dir', data);
    expect(noRoot).toMatchObject({ code: 1, stderr: expect.stringMatching(/trusts no release root yet/) });
    const first = await agent('sideload', join(work, 'offline.tar'), '--data-dir', data, '--root', join(keys(), '1.root.json'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^verified agent gpufleet-agent 0.3.0 \(root version 2\)\n {2}target: {2}agent\/gpufleet-agent-0.3.0.tgz\n/);
    expect(first.stdout).toMatch(/trusting the release root in .*1\.root\.json from now on/);
    const file = /file: {4}(.*)\n/.exec(first.stdout)![1]!;
    expect(readFileSync(file).equals(AGENT)).toBe(true);
    const again = await agent('sideload', join(work, 'offline.tar'), '--data-dir', data, '--root', join(keys(), '1.root.json'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already trusts release root version 2; --root is not used/);

    // The same tar with the target's bytes changed is refused.
    const tar = readFileSync(join(work, 'offline.tar'));
    const at = tar.indexOf(AGENT.subarray(0, 40));
    tar.write('#!/bin/sh\necho evil!', at, 'utf8');
    writeFileSync(join(work, 'evil.tar'), tar);
    const evil = await agent('sideload', join(work, 'evil.tar'), '--data-dir', join(work, 'host-evil'), '--root', join(keys(), '1.root.json'));
    expect(evil.code).toBe(1);
    expect(evil.stderr).toMatch(/^gpufleet-agent: error: release refused: Expected hash [0-9a-f]{64} but got [0-9a-f]{64}\n$/);
    // gpufleet agent sideload is the same command.
    const viaCli = await offline('agent', 'sideload', join(work, 'offline.tar'), '--data-dir', join(work, 'host-cli'), '--root', join(keys(), '2.root.json'));
    expect(viaCli.code, viaCli.stderr).toBe(0);
  });
});
