import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BundleDriftData } from '@gpufleet/protocol';
import type { VerifiedRelease } from '../updates/release-verifier.js';
import { writeBundleArchive } from './bundle-archive.js';
import { createBundleInstaller, type BundleInstaller } from './bundle-installer.js';
import { execCommandRunner, type HostCommandRunner } from './command-runner.js';

// Bundles of files, units and hooks: no container engine is needed (the engine's part is tested
// on a real Podman in test/e2e/updates/bundle-apply.test.ts). systemctl calls are recorded.

let dir: string;
let root: string;
let installer: BundleInstaller;
let calls: string[][];
let drift: BundleDriftData[];

const run: HostCommandRunner = async (argv, opts) => {
  calls.push([...argv]);
  return argv[0] === 'systemctl' ? { code: 0, output: '' } : execCommandRunner(argv, opts);
};

function release(version: string, opts: { conf?: string; pre?: string; post?: string; unit?: boolean } = {}): VerifiedRelease {
  const hooks = [opts.pre ? `  pre: [sh, -c, '${opts.pre}']` : '', opts.post ? `  post: [sh, -c, '${opts.post}']` : ''].filter(Boolean);
  const yaml = `name: app\nversion: "${version}"\nfiles:\n  - { path: /etc/app.conf, source: files/app.conf, mode: "0644" }\n${
    opts.unit ? 'units:\n  - { name: app.service, source: units/app.service }\n' : ''
  }${hooks.length ? `hooks:\n${hooks.join('\n')}\n` : ''}`;
  const sources = new Map([['files/app.conf', new Uint8Array(Buffer.from(opts.conf ?? `v${version}\n`))]]);
  if (opts.unit) sources.set('units/app.service', new Uint8Array(Buffer.from('[Service]\n')));
  const tar = writeBundleArchive(yaml, sources);
  const file = join(dir, `app-${version}-${Math.random().toString(36).slice(2)}.tar`);
  writeFileSync(file, tar);
  const sha256 = createHash('sha256').update(tar).digest('hex');
  return { kind: 'bundle', name: 'app', version, targetPath: `bundles/app/app-${version}.tar`, sha256, length: tar.length, file, rootVersion: 1 };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-bundle-inst-'));
  root = join(dir, 'root');
  mkdirSync(root);
  calls = [];
  drift = [];
  installer = createBundleInstaller({
    dataDir: join(dir, 'data'),
    root,
    runCommand: run,
    onDrift: (d) => drift.push(d),
    driftIntervalMs: 50,
    socketPath: join(dir, 'none.sock'),
  });
});
afterEach(() => {
  installer.close();
  rmSync(dir, { recursive: true, force: true });
});

const conf = () => readFileSync(join(root, 'etc/app.conf'), 'utf8');

describe('createBundleInstaller (files, units, hooks)', () => {
  it('a failing pre hook changes nothing; a failing post hook rolls back to the version before', async () => {
    expect(await installer.apply(release('1'), () => undefined)).toMatchObject({ state: 'healthy', runningVersion: '1' });
    const pre = await installer.apply(release('2', { pre: 'echo no >&2; exit 4' }), () => undefined);
    expect(pre).toMatchObject({ state: 'failed', fromVersion: '1', runningVersion: '1', rolledBack: false });
    expect(pre.message).toMatch(/app@2 failed, nothing was changed: the pre hook \(sh -c echo no >&2; exit 4\) exited with 4: no/);
    expect(conf()).toBe('v1\n');
    const post = await installer.apply(release('2', { post: 'test "$GPUFLEET_BUNDLE_FROM" = 1 && exit 5' }), () => undefined);
    expect(post).toMatchObject({ state: 'failed', fromVersion: '1', runningVersion: '1', rolledBack: true });
    expect(post.message).toMatch(/app@2 failed and was rolled back \(app@1 runs again\): the post hook .* exited with 5/);
    expect(conf()).toBe('v1\n');
    expect(installer.runningVersion('app')).toBe('1');
    expect(installer.runningVersion('other')).toBeNull();
  });

  it('a first install that fails leaves the host as it was; a unit bundle calls systemctl, and a rollback stops what the newer one enabled', async () => {
    writeFileSync(join(root, 'keep'), 'x');
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/app.conf'), 'the host own\n');
    const failed = await installer.apply(release('1', { post: 'exit 1', unit: true }), () => undefined);
    expect(failed).toMatchObject({ state: 'failed', fromVersion: null, runningVersion: null, rolledBack: true });
    expect(failed.message).toMatch(/app is removed again/);
    expect(conf()).toBe('the host own\n');
    expect(existsSync(join(root, 'etc/systemd/system/app.service'))).toBe(false);
    expect(calls.filter((c) => c[0] === 'systemctl')).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'app.service'],
      ['systemctl', 'disable', '--now', 'app.service'],
      ['systemctl', 'daemon-reload'],
    ]);
    calls = [];
    expect(await installer.apply(release('1'), () => undefined)).toMatchObject({ state: 'healthy' });
    expect(await installer.apply(release('2', { unit: true }), () => undefined)).toMatchObject({ state: 'healthy', fromVersion: '1' });
    expect(await installer.rollback('app', 'aborted')).toMatchObject({ state: 'rolled-back', runningVersion: '1' });
    expect(calls.filter((c) => c[0] === 'systemctl').slice(-2)).toEqual([
      ['systemctl', 'disable', '--now', 'app.service'],
      ['systemctl', 'daemon-reload'],
    ]);
    expect(await installer.rollback('nothing', 'x')).toMatchObject({ state: 'failed', message: expect.stringMatching(/bundle nothing is not installed here/) });
  });

  it('the watcher reports a file changed by hand once, and reports again when it is put back', async () => {
    expect(await installer.apply(release('1'), () => undefined)).toMatchObject({ state: 'healthy' });
    expect(drift).toEqual([]);
    writeFileSync(join(root, 'etc/app.conf'), 'edited\n');
    await until(() => drift.length > 0);
    expect(drift[0]).toMatchObject({ name: 'app', version: '1', items: [{ container: '/etc/app.conf', kind: 'file-changed' }] });
    writeFileSync(join(root, 'etc/app.conf'), 'v1\n');
    await until(() => drift.length > 1);
    expect(drift).toHaveLength(2);
    expect(drift[1]).toEqual({ name: 'app', version: '1', items: [] });
  });

  it('refuses a release of another kind or with other bytes than its name says', async () => {
    const agent = { ...release('1'), kind: 'agent' as const };
    expect(await installer.apply(agent, () => undefined)).toMatchObject({
      state: 'failed',
      message: expect.stringMatching(/the bundle installer installs bundles, not agent releases/),
    });
    const renamed = { ...release('1'), name: 'web' };
    expect(await installer.apply(renamed, () => undefined)).toMatchObject({
      state: 'failed',
      message: expect.stringMatching(/says app@1, but the release is web@1/),
    });
    const gone = { ...release('1'), file: join(dir, 'missing.tar') };
    expect(await installer.apply(gone, () => undefined)).toMatchObject({ state: 'failed', message: expect.stringMatching(/ENOENT/) });
    expect(existsSync(join(root, 'etc'))).toBe(false);
  });
});
