import { describe, expect, it } from 'vitest';
import { BundleManifest, bundleContainerName } from './bundle-manifest.js';
import { bundleTargetPath, parseReleaseRef, releaseRefText, releaseTargetPath } from './release-views.js';
import { ServerFrame, AgentEvent } from './frames.js';
import { UpdateStateData } from './update-frames.js';

const IMAGE = `localhost/fleet-test@sha256:${'1'.repeat(64)}`;

describe('bundle manifests', () => {
  it('reads a full manifest and fills defaults', () => {
    const m = BundleManifest.parse({
      name: 'inference',
      version: '12',
      containers: [{ name: 'web', image: IMAGE, command: ['httpd', '-f'], health: { command: ['true'] } }],
      files: [{ path: '/etc/inference/config.toml', source: 'files/config.toml', mode: '0644' }],
      units: [{ name: 'exporter.service', source: 'units/exporter.service' }],
    });
    expect(m.containers[0]).toMatchObject({ env: {}, restart: 'unless-stopped', health: { timeoutSeconds: 10, retries: 3 } });
    expect(m.units[0]?.enable).toBe(true);
    expect(bundleContainerName(m.name, 'web')).toBe('gpufleet-inference-web');
  });

  it('refuses unpinned images, escaping paths, duplicates, unknown keys and empty bundles', () => {
    const base = { name: 'inference', version: '12' };
    const problems = (v: unknown) =>
      BundleManifest.safeParse(v)
        .error?.issues.map((i) => i.message)
        .join('; ') ?? '';
    expect(problems({ ...base, containers: [{ name: 'web', image: 'busybox:latest' }] })).toMatch(/pinned by digest/);
    expect(problems({ ...base, files: [{ path: '/etc/../shadow', source: 'files/x', mode: '0644' }] })).toMatch(/absolute path/);
    expect(problems({ ...base, files: [{ path: 'etc/x', source: 'files/x', mode: '0644' }] })).toMatch(/absolute path/);
    expect(problems({ ...base, files: [{ path: '/etc/x', source: '../x', mode: '0644' }] })).toMatch(/under files\//);
    expect(problems({ ...base, files: [{ path: '/etc/x', source: 'files/../../x', mode: '0644' }] })).toMatch(/under files\//);
    expect(problems({ ...base, files: [{ path: '/etc/./x', source: 'files/x', mode: '0644' }] })).toMatch(/absolute path/);
    expect(problems({ ...base, files: [{ path: '/etc/x', source: 'files/x', mode: '9999' }] })).toMatch(/octal/);
    expect(
      problems({
        ...base,
        containers: [
          { name: 'web', image: IMAGE },
          { name: 'web', image: IMAGE },
        ],
      }),
    ).toMatch(/named twice/);
    expect(problems({ ...base, containers: [{ name: 'web', image: IMAGE, privileged: true }] })).toMatch(/nrecognized/);
    expect(problems(base)).toMatch(/at least one/);
    expect(problems({ ...base, name: 'Inference' })).toMatch(/lowercase/);
    for (const garbage of [null, 'x', 7, [], { name: 5 }]) expect(BundleManifest.safeParse(garbage).success).toBe(false);
  });
});

describe('release refs and target paths', () => {
  it('reads agent and bundle refs and writes them back', () => {
    expect(parseReleaseRef('agent@0.3.0')).toEqual({ kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' });
    expect(parseReleaseRef('inference@12')).toEqual({ kind: 'bundle', name: 'inference', version: '12' });
    expect(parseReleaseRef('bundle:inference@12')).toEqual({ kind: 'bundle', name: 'inference', version: '12' });
    for (const bad of ['agent', '@1', 'agent@', 'agent@../1', 'Inference@1', 'bundle@1', 'x y@1']) expect(parseReleaseRef(bad)).toBeNull();
    expect(releaseRefText({ kind: 'bundle', name: 'inference', version: '12' })).toBe('inference@12');
    expect(releaseTargetPath({ kind: 'bundle', name: 'inference', version: '12' })).toBe('bundles/inference/inference-12.tar');
    expect(releaseTargetPath({ kind: 'agent', name: 'ignored', version: '0.3.0' })).toBe('agent/gpufleet-agent-0.3.0.tgz');
    expect(() => bundleTargetPath('../etc', '1')).toThrow(/bundle name/);
  });
});

describe('update frames and events', () => {
  it('parses update frames and refuses garbage ones', () => {
    const rollback = { t: 'update', body: { op: 'rollback', rolloutId: 'ro_12345678', kind: 'bundle', name: 'inference', reason: 'wave failed' } };
    expect(ServerFrame.safeParse(rollback).success).toBe(true);
    expect(ServerFrame.safeParse({ t: 'update', body: { op: 'rollback', rolloutId: 'short' } }).success).toBe(false);
    expect(ServerFrame.safeParse({ t: 'update', body: { op: 'apply', rolloutId: 'ro_12345678', rollout: {} } }).success).toBe(false);
    expect(ServerFrame.safeParse({ t: 'update', body: { op: 'explode' } }).success).toBe(false);
  });

  it('update-state events carry UpdateStateData', () => {
    const data = {
      rolloutId: null,
      kind: 'agent',
      name: 'gpufleet-agent',
      version: '0.3.0',
      fromVersion: '0.2.0',
      runningVersion: '0.3.0',
      state: 'healthy',
      rolledBack: false,
      reason: null,
      message: '',
    };
    expect(UpdateStateData.parse(data)).toEqual(data);
    expect(UpdateStateData.safeParse({ ...data, state: 'exploded' }).success).toBe(false);
    expect(AgentEvent.safeParse({ id: 'e1', ts: 1, kind: 'update-state', gpuUuid: null, pciBusId: null, message: '', data }).success).toBe(true);
  });
});
