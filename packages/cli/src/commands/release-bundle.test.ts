import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBundleInstaller,
  offlineSource,
  readBundle,
  readBundleArchive,
  ReleaseVerifier,
  serverSource,
  sideloadCommand,
  takeSideloadReports,
  writeBundle,
  type HostCommandRunner,
} from '@gpufleet/agent';
import type { UpdateStateData } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../../../server/src/testing/test-server.js';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

/**
 * Host bundles through the CLI (issue 14): a real control plane, `releases publish bundle` from a
 * folder, `releases ls` and `releases export`, then a host that verifies the export offline with
 * TUF and applies it (a bundle of files and a unit: the containers are tested on Podman in
 * test/e2e/updates/bundle-apply.test.ts).
 */

let t: TestServer;
let work: string;
const DIGEST = `sha256:${'b'.repeat(64)}`;

function bundleFolder(dir: string, yaml: string, files: Record<string, string> = {}): string {
  const path = join(work, dir);
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'bundle.yaml'), yaml);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(path, name, '..'), { recursive: true });
    writeFileSync(join(path, name), text);
  }
  return dir;
}

const GOOD = `name: inference
version: 12
files:
  - { path: /etc/inference/config.toml, source: files/config.toml, mode: 0640 }
units:
  - { name: inference-exporter.service, source: units/inference-exporter.service }
`;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bundle-cli-'));
  t = await startTestServer({}, { masterKey: 'bundle-test-master-key-0123456789' });
  bundleFolder('inference-stack', GOOD, {
    'files/config.toml': 'threads = 8\n',
    'units/inference-exporter.service': '[Service]\nExecStart=/usr/bin/true\n',
    'files/not-named.txt': 'left out of the archive\n',
    'notes.md': 'left out too\n',
  });
});
afterAll(async () => {
  await t.close();
  rmSync(work, { recursive: true, force: true });
});

async function cli(...args: string[]) {
  const io = captureIo({ columns: 140, cwd: work });
  const code = await runCli([...args, '--server', t.url, '--token', t.adminToken], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('gpufleet releases publish bundle', () => {
  it('publishes a bundle folder as a signed target, listed by ls, packed the same way twice', async () => {
    expect((await cli('releases', 'keys', 'init', '--dir', 'keys')).code).toBe(0);
    expect((await cli('releases', 'keys', 'upload', '--dir', 'keys')).code).toBe(0);
    const pub = await cli('releases', 'publish', 'bundle', 'inference-stack/', '--name', 'inference', '--version', '12', '--keys', 'keys');
    expect(pub.code, pub.stderr).toBe(0);
    expect(pub.stdout).toMatch(/^published bundle inference@12 \(targets version 1\): bundles\/inference\/inference-12.tar, .* sha256 [0-9a-f]{64}\n$/);
    const ls = await cli('releases', 'ls', '-o', 'wide');
    expect(ls.stdout).toMatch(/^bundle\s+inference\s+12\s+[0-9a-f]{12}\s+.*bundles\/inference\/inference-12\.tar$/m);
    // The same folder packs to the same bytes: publishing it again is "the same bytes".
    const again = await cli('releases', 'publish', 'bundle', 'inference-stack', '--name', 'inference', '--version', '12', '--keys', 'keys');
    expect(again).toMatchObject({ code: 1, stderr: expect.stringMatching(/bundle inference 12 is published already \(.*the same bytes\)/) });
  });

  it('export → a host verifies it offline and applies it', async () => {
    const exp = await cli('releases', 'export', 'inference@12', '--out', 'inference-12.tar');
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stdout).toMatch(/^wrote inference-12.tar \(.*\): bundle inference@12, bundles\/inference\/inference-12.tar; sideload it before/);
    const { manifest, lookup } = readBundle(readFileSync(join(work, 'inference-12.tar')));
    expect(manifest).toMatchObject({ kind: 'bundle', name: 'inference', version: '12' });
    // A bundle export that does not name its bundle cannot be looked up: refused.
    const nameless = writeBundle({
      kind: 'bundle',
      version: '12',
      roots: [],
      timestamp: '{}',
      snapshot: { version: 1, text: '{}' },
      targets: { version: 1, text: '{}' },
      target: { path: manifest.targetPath, sha256: 'a'.repeat(64), bytes: new Uint8Array(1) },
    });
    expect(() => readBundle(nameless)).toThrow(/is not a manifest this agent understands/);
    const host = join(work, 'host');
    ReleaseVerifier.trustRoot(join(host, 'releases'), readFileSync(join(work, 'keys', '1.root.json'), 'utf8'));
    const verified = await new ReleaseVerifier(join(host, 'releases'), offlineSource(lookup, 'inference-12.tar')).verify({
      kind: 'bundle',
      name: manifest.name!,
      version: manifest.version,
    });
    // Only bundle.yaml and the files it names were packed.
    const archive = readBundleArchive(readFileSync(verified.file), { name: 'inference', version: '12' });
    expect([...archive.sources.keys()]).toEqual(['files/config.toml', 'units/inference-exporter.service']);

    const calls: string[][] = [];
    const run: HostCommandRunner = async (argv) => {
      calls.push([...argv]);
      return { code: 0, output: '' };
    };
    const root = join(host, 'root');
    const installer = createBundleInstaller({ dataDir: host, root, runCommand: run, driftIntervalMs: 0, socketPath: join(work, 'no-engine.sock') });
    const out = await installer.apply(verified, () => undefined);
    installer.close();
    expect(out, out.message).toMatchObject({ state: 'healthy', fromVersion: null, runningVersion: '12' });
    expect(readFileSync(join(root, 'etc/inference/config.toml'), 'utf8')).toBe('threads = 8\n');
    expect(statSync(join(root, 'etc/inference/config.toml')).mode & 0o777).toBe(0o640);
    expect(existsSync(join(root, 'etc/systemd/system/inference-exporter.service'))).toBe(true);
    expect(calls).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'inference-exporter.service'],
    ]);
    // Online, the same release verifies through the server.
    const online = await new ReleaseVerifier(join(work, 'host2'), serverSource(t.url, null));
    ReleaseVerifier.trustRoot(join(work, 'host2'), readFileSync(join(work, 'keys', '1.root.json'), 'utf8'));
    expect((await online.verify({ kind: 'bundle', name: 'inference', version: '12' })).sha256).toBe(verified.sha256);
  });

  it('refuses garbage folders and flags with one line, before anything is sent', async () => {
    bundleFolder('bad-yaml', 'name: inference\nversion: [12\n');
    bundleFolder('unpinned', `name: inference\nversion: "13"\ncontainers:\n  - { name: web, image: "busybox:latest" }\n`);
    bundleFolder('missing-source', `name: inference\nversion: "13"\nfiles:\n  - { path: /etc/x, source: files/x, mode: "0644" }\n`);
    bundleFolder('other-name', `name: training\nversion: "13"\ncontainers:\n  - { name: web, image: "localhost/x@${DIGEST}" }\n`);
    bundleFolder('escaping', `name: inference\nversion: "13"\nfiles:\n  - { path: /etc/x, source: files/x, mode: "0644" }\n`);
    mkdirSync(join(work, 'escaping', 'files'));
    symlinkSync('/etc/hostname', join(work, 'escaping', 'files', 'x'));
    bundleFolder('folder-source', `name: inference\nversion: "13"\nfiles:\n  - { path: /etc/x, source: files/x, mode: "0644" }\n`);
    mkdirSync(join(work, 'folder-source', 'files', 'x'), { recursive: true });
    mkdirSync(join(work, 'no-yaml'));
    writeFileSync(join(work, 'a-file'), 'x');
    const pub = (dir: string, ...more: string[]) => ['releases', 'publish', 'bundle', dir, '--name', 'inference', '--version', '13', '--keys', 'keys', ...more];
    const cases: Array<[string[], RegExp, number]> = [
      [pub('nowhere'), /cannot read nowhere: ENOENT/, 1],
      [pub('a-file'), /a-file is not a folder: a bundle is a folder holding bundle.yaml/, 1],
      [pub('no-yaml'), /no-yaml\/bundle.yaml is not in the bundle folder \(ENOENT\)/, 2],
      [pub('bad-yaml'), /bad-yaml\/bundle.yaml:\d+:\d+: not valid YAML/, 2],
      [pub('unpinned'), /unpinned\/bundle.yaml:4:\d+: containers\[0\]\.image: an image pinned by digest/, 2],
      [pub('missing-source'), /missing-source\/files\/x, named in bundle.yaml, is not in the bundle folder \(ENOENT\)/, 2],
      [pub('other-name'), /other-name\/bundle.yaml names bundle 'training', but --name is 'inference'/, 2],
      [pub('inference-stack'), /inference-stack\/bundle.yaml says version '12', but --version is '13'/, 2],
      [pub('escaping'), /escaping\/files\/x, named in bundle.yaml, is a link to \/etc\/hostname, outside the bundle folder: refused/, 2],
      [pub('folder-source'), /folder-source\/files\/x, named in bundle.yaml, is not a regular file/, 2],
      [['releases', 'publish', 'bundle', 'inference-stack', '--version', '12', '--keys', 'keys'], /a bundle needs --name/, 2],
      [
        ['releases', 'publish', 'bundle', 'inference-stack', '--name', 'Inference!', '--version', '12', '--keys', 'keys'],
        /--name 'Inference!' must be lowercase/,
        2,
      ],
      [['releases', 'publish', 'bundle', 'inference-stack', '--name', 'inference', '--version', '1 2', '--keys', 'keys'], /--version '1 2' must be/, 2],
      [
        ['releases', 'publish', 'bundle', 'inference-stack', '--name', 'inference', '--version', '12'],
        /give --keys DIR \(the targets key\), or for a team's bundle --team/,
        2,
      ],
      [['releases', 'export', 'inference@13', '--out', 'x.tar'], /inference@13 is not published on this server/, 1],
      [['releases', 'export', 'bundle:Inference@12', '--out', 'x.tar'], /is not a release: write agent@VERSION or BUNDLE@VERSION/, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = await cli(...args);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    const ls = JSON.parse((await cli('releases', 'ls', '-o', 'json')).stdout);
    expect(ls.items.map((i: { version: string }) => i.version)).toEqual(['12']);
  });
  it('a files-only bundle export is side-loaded and applied by gpufleet-agent sideload --install, and reported when the agent starts', async () => {
    bundleFolder('motd', 'name: motd\nversion: "3"\nfiles:\n  - { path: /etc/motd, source: files/motd, mode: "0644" }\n', { 'files/motd': 'welcome\n' });
    expect((await cli('releases', 'publish', 'bundle', 'motd', '--name', 'motd', '--version', '3', '--keys', 'keys')).code).toBe(0);
    expect((await cli('releases', 'export', 'motd@3', '--out', 'motd-3.tar')).code).toBe(0);
    const host = join(work, 'sideload-host');
    const root = join(host, 'root');
    const lines: string[] = [];
    const usage = (m: string) => new Error(`usage: ${m}`);
    const args = [join(work, 'motd-3.tar'), '--data-dir', host, '--root', join(work, 'keys', '1.root.json'), '--install', '--bundle-root', root];
    expect(await sideloadCommand(args, (t) => lines.push(t), usage, host)).toBe(0);
    expect(lines.join('')).toMatch(/verified bundle motd 3[\s\S]*applied bundle motd 3 \(before: none\)/);
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('welcome\n');
    // Again: nothing to do. Garbage flags: usage errors.
    lines.length = 0;
    expect(await sideloadCommand(args, (t) => lines.push(t), usage, host)).toBe(0);
    expect(lines.join('')).toMatch(/applied already; nothing to do/);
    await expect(sideloadCommand([join(work, 'motd-3.tar'), '--bundle-root', root], () => {}, usage, host)).rejects.toThrow(
      /--bundle-root goes with --install/,
    );
    await expect(sideloadCommand([join(work, 'motd-3.tar'), '--install', '--bundle-root', ''], () => {}, usage, host)).rejects.toThrow(/needs a folder/);
    // The agent reports it once, when it starts (rollout id null).
    const reports: UpdateStateData[] = [];
    expect(takeSideloadReports(host, (d) => reports.push(d))).toBe(1);
    expect(reports).toEqual([
      {
        rolloutId: null,
        kind: 'bundle',
        name: 'motd',
        version: '3',
        fromVersion: null,
        runningVersion: '3',
        state: 'healthy',
        rolledBack: false,
        reason: null,
        message: expect.any(String),
      },
    ]);
    expect(takeSideloadReports(host, () => {})).toBe(0);
  });
});
