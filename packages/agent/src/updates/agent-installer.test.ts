import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentInstaller } from './agent-installer.js';
import { AGENT_ENTRY, packAgentRelease, unpackAgentRelease } from './agent-release.js';
import { InstallLayout } from './install-layout.js';
import { readPendingUpdate } from './pending-update.js';
import type { VerifiedRelease } from './release-verifier.js';
import { writeTar } from './ustar.js';

/** The agent installer's A/B folders: slot switching, what a release may hold, and rollback. */

let dir: string;
let restarts: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-installer-'));
  mkdirSync(join(dir, 'data'));
  restarts = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mjs = (v: string) => new Uint8Array(Buffer.from(`console.log('agent ${v}');\n`));

function release(version: string, tgz: Uint8Array = packAgentRelease({ version, agentMjs: mjs(version) })): VerifiedRelease {
  const file = join(dir, `gpufleet-agent-${version}.tgz`);
  writeFileSync(file, tgz);
  return {
    kind: 'agent',
    name: 'gpufleet-agent',
    version,
    targetPath: `agent/gpufleet-agent-${version}.tgz`,
    sha256: 'f'.repeat(64),
    length: tgz.length,
    file,
    rootVersion: 1,
    rolloutId: 'rollout-0001',
  };
}

function installer(runningVersion: string) {
  return new AgentInstaller({
    installDir: join(dir, 'install'),
    dataDir: join(dir, 'data'),
    runningVersion,
    restart: () => void restarts++,
    clock: { now: () => 1_000 },
  });
}

const settle = () => new Promise((r) => setTimeout(r, 80));
const link = (name: string) => readlinkSync(join(dir, 'install', name));

describe('agent installer', () => {
  it('installs into the slot not in use, switches current, keeps previous, writes the pending record and restarts', async () => {
    const steps: string[] = [];
    const first = await installer('0.1.0').apply(release('9.9.1'), (s, m) => void steps.push(`${s}: ${m}`));
    expect(first).toMatchObject({ state: 'restarting', fromVersion: '0.1.0', runningVersion: '0.1.0', rolledBack: false });
    expect(steps).toEqual([expect.stringMatching(/^installing: unpacking agent 9.9.1 into .*install\/a$/)]);
    expect([link('current'), link('previous')]).toEqual(['a', 'builtin']);
    expect(readFileSync(join(dir, 'install', 'a', AGENT_ENTRY), 'utf8')).toContain('agent 9.9.1');
    expect(readPendingUpdate(join(dir, 'data'))).toEqual({
      v: 1,
      rolloutId: 'rollout-0001',
      op: 'update',
      fromVersion: '0.1.0',
      toVersion: '9.9.1',
      version: '9.9.1',
      state: 'switched',
      switchedAt: 1_000,
      reason: null,
    });
    await settle();
    expect(restarts).toBe(1);

    // The new build runs from slot a; the next one goes to b, and a becomes previous.
    await installer('9.9.1').apply(release('9.9.2'), () => {});
    expect([link('current'), link('previous')]).toEqual(['b', 'a']);
    const layout = new InstallLayout(join(dir, 'install'));
    expect([layout.slotVersion('a'), layout.slotVersion('b'), layout.currentEntry()]).toEqual(['9.9.1', '9.9.2', join(dir, 'install', 'b', AGENT_ENTRY)]);
    expect(installer('9.9.2').runningVersion('gpufleet-agent')).toBe('9.9.2');
    expect(installer('9.9.2').runningVersion('inference')).toBeNull();
    await settle();
    expect(restarts).toBe(2);
  });

  it('rolls back to previous (a slot, then the built-in agent) and says when there is nothing to go back to', async () => {
    await installer('0.1.0').apply(release('9.9.1'), () => {});
    await installer('9.9.1').apply(release('9.9.2'), () => {});
    const back = await installer('9.9.2').rollback('gpufleet-agent', 'wave 2 failed');
    expect(back).toMatchObject({ state: 'restarting', message: 'going back to agent 9.9.1: wave 2 failed' });
    expect(link('current')).toBe('a');
    expect(existsSync(join(dir, 'install', 'previous'))).toBe(false);
    expect(readPendingUpdate(join(dir, 'data'))).toMatchObject({
      op: 'rollback',
      fromVersion: '9.9.2',
      toVersion: '9.9.1',
      state: 'switched',
      reason: 'wave 2 failed',
    });
    expect(await installer('9.9.1').rollback('gpufleet-agent', 'again')).toMatchObject({
      state: 'failed',
      message: /nothing to go back to|no agent build to go back to/,
    });
    expect(await installer('9.9.1').rollback('inference', 'x')).toMatchObject({ state: 'failed' });
    // From the first release back to the agent the launcher belongs to: current goes away.
    rmSync(join(dir, 'install'), { recursive: true });
    await installer('0.1.0').apply(release('9.9.1'), () => {});
    await installer('9.9.1').rollback('gpufleet-agent', 'bad');
    expect(new InstallLayout(join(dir, 'install')).current).toBeNull();
    await settle();
    expect(restarts).toBe(5);
  });

  it('refuses releases that are not agent builds, touching no slot and writing no record', async () => {
    const tar = (entries: Array<[string, string]>) => gzipSync(writeTar(entries.map(([name, text]) => ({ name, bytes: new Uint8Array(Buffer.from(text)) }))));
    // A name that climbs out: written as `gpufleet-agent/zz/evil`, then `zz` patched to `..` with the checksum fixed.
    const raw = writeTar([{ name: 'gpufleet-agent/zz/evil', bytes: new Uint8Array(1) }]);
    raw.write('..', 'gpufleet-agent/'.length, 'ascii');
    raw.write('        ', 148, 'ascii');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += raw[i]!;
    raw.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array(Buffer.from('not gzip at all')), /not an agent release: it is not gzip/],
      [gzipSync(raw), /not a plain relative path/],
      [tar([['etc/cron.d/evil', 'x']]), /'etc\/cron.d\/evil' is outside the gpufleet-agent\/ folder/],
      [tar([['gpufleet-agent/release.json', '{"version":"9.9.1"}']]), /it has no gpufleet-agent\/agent.mjs/],
      [tar([['gpufleet-agent/agent.mjs', '']]), /it has no gpufleet-agent\/release.json/],
      [
        tar([
          ['gpufleet-agent/agent.mjs', ''],
          ['gpufleet-agent/release.json', '{'],
        ]),
        /release.json is not JSON/,
      ],
      [packAgentRelease({ version: '9.9.0', agentMjs: mjs('9.9.0') }), /says version "9.9.0", but it was signed as 9.9.1/],
    ];
    for (const [tgz, message] of cases) {
      await expect(installer('0.1.0').apply(release('9.9.1', tgz), () => {})).rejects.toThrow(message);
    }
    expect(existsSync(join(dir, 'install', 'current'))).toBe(false);
    expect(readPendingUpdate(join(dir, 'data'))).toBeNull();
    await settle();
    expect(restarts).toBe(0);
  });

  it('never writes outside a slot, nor into the slot that runs', () => {
    const layout = new InstallLayout(join(dir, 'install'));
    expect(() => layout.fill('a', new Map([['../b/gpufleet-agent/agent.mjs', new Uint8Array(1)]]))).toThrow(/would land outside the install slot/);
    expect(() => layout.fill('a', new Map([['/etc/passwd', new Uint8Array(1)]]))).toThrow(/outside the install slot/);
    layout.fill('a', unpackAgentRelease(packAgentRelease({ version: '1.0.0', agentMjs: mjs('1') }), '1.0.0'));
    layout.switchTo('a');
    expect(() => layout.fill('a', new Map())).toThrow(/slot a holds the running build/);
    expect(layout.inactive).toBe('b');
  });
});
