import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgentCommand } from '../runtime/commands.js';
import { packAgentRelease } from './agent-release.js';
import { InstallLayout } from './install-layout.js';
import { readPendingUpdate } from './pending-update.js';
import type { VerifiedRelease } from './release-verifier.js';
import { installSideloaded } from './sideload-install.js';

/**
 * `sideload --install` after verification (the TUF part is in test/e2e/updates/agent-sideload):
 * the same slots and record as an online update, with a self-check that needs no server.
 */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sideload-install-'));
  mkdirSync(join(dir, 'data'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function verified(version: string, kind: 'agent' | 'bundle' = 'agent'): VerifiedRelease {
  const file = join(dir, `${version}.tgz`);
  writeFileSync(file, packAgentRelease({ version, agentMjs: new Uint8Array(Buffer.from('process.exit(0)')) }));
  return {
    kind,
    name: kind === 'agent' ? 'gpufleet-agent' : 'inference',
    version,
    targetPath: 'agent/x.tgz',
    sha256: 'a'.repeat(64),
    length: 1,
    file,
    rootVersion: 1,
  };
}

const install = (release: VerifiedRelease) =>
  installSideloaded({ release, dataDir: join(dir, 'data'), installDir: join(dir, 'install'), builtinVersion: '0.1.0' });

describe('sideload --install', () => {
  it('installs like an online update, for the launcher to start on the next restart', async () => {
    const text = await install(verified('9.9.1'));
    expect(text).toMatch(
      /^installed agent 9.9.1 in .*install\/a \(before: the built-in agent 0.1.0\)\nrestart the agent to run it: systemctl restart gpufleet-agent/,
    );
    expect(new InstallLayout(join(dir, 'install')).current).toBe('a');
    expect(readPendingUpdate(join(dir, 'data'))).toMatchObject({
      rolloutId: null,
      op: 'update',
      fromVersion: '0.1.0',
      toVersion: '9.9.1',
      state: 'switched',
      needsServer: false,
    });
  });

  it('applies a bundle through the bundle installer (not this garbage one), refuses a second install while a switch is pending, and does nothing for the installed version', async () => {
    await expect(install(verified('12', 'bundle'))).rejects.toThrow(/bundle inference 12 was not applied: /);
    await install(verified('9.9.1'));
    await expect(install(verified('9.9.2'))).rejects.toThrow(/an agent switch to 9.9.1 is pending already/);
    rmSync(join(dir, 'data', 'agent-update.json'));
    expect(await install(verified('9.9.1'))).toMatch(/agent 9.9.1 is installed already/);
    expect(new InstallLayout(join(dir, 'install')).previous).toBe('builtin');
  });

  it('refuses bad install flags with exit 2', async () => {
    const run = async (...args: string[]) => {
      let stderr = '';
      const code = await runAgentCommand(['sideload', 'x.tar', ...args], { stderr: (t) => void (stderr += t), stdout: () => {} });
      return { code, stderr };
    };
    expect(await run('--install-dir', join(dir, 'i'))).toMatchObject({ code: 2, stderr: expect.stringMatching(/--install-dir goes with --install/) });
    expect(await run('--install', '--install-dir', '')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--install-dir needs a folder/) });
    expect(await run('--install=yes')).toMatchObject({ code: 2 });
  });
});
