import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBundleInstaller, type BundleInstaller } from '@gpufleet/agent';
import { EngineClient } from '../../../packages/agent/src/containers/engine-client.js';
import type { BundleDriftData } from '@gpufleet/protocol';
import { PodmanEnv } from '../../containers/podman-env.js';
import { BundleImages } from './bundle-images.js';
import { bundleTar, recordingRunner, releaseFile } from './bundle-support.js';

// Host bundles against a real Podman serving the Docker Engine API (scripts/podman-test-env.sh):
// v1 → v2 (new image digests) → v3 whose health check fails (rolled back to v2) → drift made by
// hand → rollback to v1. systemd cannot run here, so systemctl calls are recorded, not made.

const NAME = `bt${Date.now().toString(36)}`;
let env: PodmanEnv;
let images: BundleImages;
let work: string;
let root: string;
let installer: BundleInstaller;
let engine: EngineClient;
const runner = recordingRunner();
const drift: BundleDriftData[] = [];
const img: Record<string, string> = {};

interface Spec {
  version: string;
  web: string;
  worker: string;
  mode?: string;
  health?: string;
  extraFile?: boolean;
  motd?: boolean;
}

function yaml(s: Spec): string {
  return `name: ${NAME}
version: ${s.version}
containers:
  - name: web
    image: ${s.web}
    command: [sleep, "3600"]
    env: { MODE: v${s.version} }
    health: { command: [${s.health ?? 'cat, /version'}], retries: 2, timeoutSeconds: 5 }
  - name: worker
    image: ${s.worker}
    command: [sh, -c, "sleep 3600"]
files:
  - { path: /etc/inference/config.toml, source: files/config.toml, mode: ${s.mode ?? '0640'} }
${s.motd ? '  - { path: /etc/motd, source: files/motd, mode: "0644" }\n' : ''}${s.extraFile ? '  - { path: /etc/inference/v3-only, source: files/v3, mode: "0600" }\n' : ''}units:
  - { name: ${NAME}-exporter.service, source: units/exporter.service }
hooks:
  pre: [sh, -c, 'echo "pre $GPUFLEET_BUNDLE_VERSION from $GPUFLEET_BUNDLE_FROM" >> "$GPUFLEET_ROOT/hooks.log"']
  post: [sh, -c, 'echo "post $GPUFLEET_BUNDLE_VERSION" >> "$GPUFLEET_ROOT/hooks.log"']
`;
}

function tarOf(s: Spec): Buffer {
  return bundleTar(yaml(s), {
    'files/config.toml': `mode = "v${s.version}"\n`,
    'units/exporter.service': `[Service]\nExecStart=/bin/true v${s.version}\n`,
    ...(s.motd ? { 'files/motd': `bundle motd v${s.version}\n` } : {}),
    ...(s.extraFile ? { 'files/v3': 'only in v3\n' } : {}),
  });
}

const apply = (s: Spec) => installer.apply(releaseFile(work, NAME, s.version, tarOf(s)), () => undefined);

async function container(which: string) {
  const raw = (await engine.request((d) => d.getContainer(`gpufleet-${NAME}-${which}`).inspect())) as {
    Image: string;
    State: { Running: boolean };
    Config: { Env: string[]; Labels: Record<string, string> };
  };
  return { image: raw.Image, running: raw.State.Running, env: raw.Config.Env, labels: raw.Config.Labels };
}

const file = (p: string) => readFileSync(join(root, p), 'utf8');

beforeAll(async () => {
  env = await PodmanEnv.start();
  images = new BundleImages(env);
  img.a = await images.make('a');
  img.b = await images.make('b');
  img.c = await images.make('c');
  work = mkdtempSync('/tmp/gfb-work-');
  root = join(work, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'motd'), 'the host motd\n');
  engine = new EngineClient({ socketPath: env.socketPath });
  installer = createBundleInstaller({
    dataDir: join(work, 'data'),
    root,
    engine,
    runCommand: runner.run,
    onDrift: (d) => drift.push(d),
    driftIntervalMs: 0,
    healthPauseMs: 200,
  });
}, 120_000);

afterAll(async () => {
  installer?.close();
  for (const c of ['web', 'worker']) await env?.podman(['rm', '-f', '-t', '0', `gpufleet-${NAME}-${c}`]).catch(() => undefined);
  await images?.close();
  await env?.close();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('bundles on a real Podman', () => {
  it('v1: pulls nothing (images are here by digest), creates both containers, writes files and units, runs hooks and health checks', async () => {
    const out = await apply({ version: '1', web: img.a!, worker: img.a! });
    expect(out, out.message).toMatchObject({ state: 'healthy', fromVersion: null, runningVersion: '1', rolledBack: false });
    expect(out.message).toMatch(/applied: 2 container\(s\), 1 file\(s\), 1 unit\(s\); 1 health check\(s\) passed/);
    expect(installer.runningVersion(NAME)).toBe('1');
    const web = await container('web');
    expect(web.image).toBe(`sha256:${await images.id(img.a!)}`);
    expect(web.running).toBe(true);
    expect(web.labels).toMatchObject({ 'gpufleet.bundle': NAME, 'gpufleet.bundle.version': '1', 'gpufleet.bundle.container': 'web' });
    expect(web.env).toContain('MODE=v1');
    expect(file('etc/inference/config.toml')).toBe('mode = "v1"\n');
    expect(statSync(join(root, 'etc/inference/config.toml')).mode & 0o777).toBe(0o640);
    expect(file(`etc/systemd/system/${NAME}-exporter.service`)).toMatch(/v1/);
    expect(runner.calls.filter((c) => c[0] === 'systemctl')).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', `${NAME}-exporter.service`],
    ]);
    expect(file('hooks.log')).toBe('pre 1 from \npost 1\n');
    expect(existsSync(join(work, 'data', 'bundles', NAME, '1', 'bundle.yaml'))).toBe(true);
  }, 90_000);

  it('v2: new image digests replace both containers; files and the unit change; the motd it takes over is kept aside', async () => {
    runner.calls.length = 0;
    const out = await apply({ version: '2', web: img.b!, worker: img.b!, mode: '0600', motd: true });
    expect(out, out.message).toMatchObject({ state: 'healthy', fromVersion: '1', runningVersion: '2' });
    for (const c of ['web', 'worker']) {
      const s = await container(c);
      expect(s.image).toBe(`sha256:${await images.id(img.b!)}`);
      expect(s.labels['gpufleet.bundle.version']).toBe('2');
    }
    expect(file('etc/inference/config.toml')).toBe('mode = "v2"\n');
    expect(statSync(join(root, 'etc/inference/config.toml')).mode & 0o777).toBe(0o600);
    expect(file('etc/motd')).toBe('bundle motd v2\n');
    // The unit's file changed: enable --now leaves it on the old definition, so it is restarted.
    expect(runner.calls.filter((c) => c[0] === 'systemctl').map((c) => c.slice(1, 2)[0])).toEqual(['daemon-reload', 'enable', 'restart']);
    // Both versions are kept: the one running and the one before it.
    expect(existsSync(join(work, 'data', 'bundles', NAME, '1'))).toBe(true);
    expect(existsSync(join(work, 'data', 'bundles', NAME, '2'))).toBe(true);
  }, 90_000);

  it('v3 fails its health check: rolled back to v2, containers, files and units are v2 again', async () => {
    const out = await apply({ version: '3', web: img.c!, worker: img.c!, health: 'sh, -c, "exit 3"', extraFile: true, motd: false });
    expect(out.state).toBe('failed');
    expect(out).toMatchObject({ fromVersion: '2', runningVersion: '2', rolledBack: true });
    expect(out.message).toMatch(
      new RegExp(
        `${NAME}@3 failed and was rolled back \\(${NAME}@2 runs again\\): the health check of gpufleet-${NAME}-web .* failed 2 time\\(s\\): exited with 3`,
      ),
    );
    expect(installer.runningVersion(NAME)).toBe('2');
    for (const c of ['web', 'worker']) {
      const s = await container(c);
      expect(s.image).toBe(`sha256:${await images.id(img.b!)}`);
      expect(s.labels['gpufleet.bundle.version']).toBe('2');
      expect(s.running).toBe(true);
    }
    expect(file('etc/inference/config.toml')).toBe('mode = "v2"\n');
    expect(file('etc/motd')).toBe('bundle motd v2\n');
    expect(existsSync(join(root, 'etc/inference/v3-only'))).toBe(false);
    expect(file(`etc/systemd/system/${NAME}-exporter.service`)).toMatch(/v2/);
    expect(existsSync(join(work, 'data', 'bundles', NAME, '3'))).toBe(false);
    expect(file('hooks.log')).toMatch(/pre 3 from 2\npost 3\n$/);
  }, 90_000);

  it('drift: a container stopped, another replaced by hand, a file edited; reported once per change, and gone after a repair', async () => {
    drift.length = 0;
    expect((await installer.checkDrift()).find((d) => d.name === NAME)?.items).toEqual([]);
    expect(drift).toEqual([]);
    await env.podman(['stop', '-t', '0', `gpufleet-${NAME}-web`]);
    await env.podman(['rm', '-f', '-t', '0', `gpufleet-${NAME}-worker`]);
    await env.podman(['run', '-d', '--name', `gpufleet-${NAME}-worker`, img.a!, 'sleep', '3600']);
    writeFileSync(join(root, 'etc/inference/config.toml'), 'edited by hand\n');
    await installer.checkDrift();
    expect(drift).toHaveLength(1);
    const kinds = drift[0]!.items.map((i) => `${i.container} ${i.kind}`);
    expect(drift[0]).toMatchObject({ name: NAME, version: '2' });
    expect(kinds).toEqual([
      '/etc/inference/config.toml file-changed',
      `gpufleet-${NAME}-web stopped`,
      `gpufleet-${NAME}-worker config-changed`,
      `gpufleet-${NAME}-worker image-changed`,
    ]);
    expect(drift[0]!.items.find((i) => i.kind === 'image-changed')!.actual).toBe(`sha256:${await images.id(img.a!)}`);
    // The same drift again: nothing new to say.
    await installer.checkDrift();
    expect(drift).toHaveLength(1);
    // The hand-made worker is not this bundle's: applying over it is refused, and nothing changes.
    const blocked = await installer.apply(releaseFile(work, NAME, '4', tarOf({ version: '4', web: img.b!, worker: img.b! })), () => undefined);
    expect(blocked.state).toBe('failed');
    expect(blocked.message).toMatch(/a container named gpufleet-.*-worker exists and is not bundle .*'s/);
    await env.podman(['rm', '-f', '-t', '0', `gpufleet-${NAME}-worker`]);
    drift.length = 0;
    const back = await installer.rollback(NAME, 'the rollout was aborted');
    expect(back).toMatchObject({ state: 'rolled-back', fromVersion: '2', runningVersion: '1', rolledBack: true });
    expect(back.message).toMatch(/rolled back from 2 to 1: the rollout was aborted/);
    // After the rollback the host is v1 again, so the drift is gone: said once, with an empty list.
    expect(drift).toEqual([{ name: NAME, version: '1', items: [] }]);
    expect((await container('web')).image).toBe(`sha256:${await images.id(img.a!)}`);
    expect(file('etc/inference/config.toml')).toBe('mode = "v1"\n');
    expect(file('etc/motd')).toBe('the host motd\n');
    const again = await installer.rollback(NAME, 'twice');
    expect(again).toMatchObject({ state: 'failed', runningVersion: '1', rolledBack: false });
    expect(again.message).toMatch(/no version before it is kept/);
  }, 120_000);

  it('refuses garbage bundles and missing images with nothing changed', async () => {
    const before = JSON.stringify([await container('web'), file('etc/inference/config.toml')]);
    const cases: Array<[Buffer | string, string, RegExp]> = [
      [Buffer.from('this is not a tar at all'.repeat(40)), '5', /refused, nothing was changed: not a release bundle: .*(checksum|octal)/],
      [bundleTar('name: [unclosed\n'), '5', /refused, nothing was changed: bundle.yaml:\d+:\d+: not valid YAML/],
      [
        bundleTar(`name: ${NAME}\nversion: "5"\ncontainers: [{ name: web, image: busybox:latest }]\n`),
        '5',
        /containers\[0\]\.image: an image pinned by digest/,
      ],
      [
        bundleTar(`name: ${NAME}\nversion: "6"\nfiles: [{ path: /x, source: files/x, mode: "0644" }]\n`),
        '6',
        /bundle.yaml names files\/x, which the archive does not hold/,
      ],
      [
        bundleTar(`name: other\nversion: "5"\nfiles: [{ path: /x, source: files/x, mode: "0644" }]\n`, { 'files/x': 'x' }),
        '5',
        /bundle.yaml says other@5, but the release is/,
      ],
      [
        bundleTar(`name: ${NAME}\nversion: "5"\nfiles: [{ path: /x, source: files/x, mode: "0644" }]\n`, { 'files/x': 'x', 'files/y': 'y' }),
        '5',
        /holds files\/y, which bundle.yaml does not name/,
      ],
      [
        bundleTar(`name: ${NAME}\nversion: "7"\ncontainers: [{ name: web, image: "${images.repo}@sha256:${'0'.repeat(64)}" }]\n`),
        '7',
        /failed, nothing was changed: could not pull .*@sha256:0{64}/,
      ],
    ];
    for (const [tar, version, message] of cases) {
      const out = await installer.apply(releaseFile(work, NAME, version, tar as Buffer), () => undefined);
      expect(out.message).toMatch(message);
      expect(out).toMatchObject({ state: 'failed', fromVersion: '1', runningVersion: '1', rolledBack: false });
    }
    expect(JSON.stringify([await container('web'), file('etc/inference/config.toml')])).toBe(before);
    expect(installer.runningVersion(NAME)).toBe('1');
  }, 120_000);
});
