import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../runtime/logger.js';
import { packAgentRelease } from './agent-release.js';
import { InstallLayout } from './install-layout.js';
import { awaitLauncherRestart } from './launcher-restart.js';
import { runLauncher } from './launcher.js';
import { pendingUpdatePath, readPendingUpdate } from './pending-update.js';
import type { VerifiedRelease } from './release-verifier.js';
import { installSideloaded } from './sideload-install.js';

/**
 * `sideload --install` of an agent build with a launcher running (issue 14): real launcher, real
 * child processes for the built-in agent and the side-loaded build (small scripts that note
 * their start and run until SIGTERM). The launcher restarts into the new build when asked; with
 * no launcher, or without asking, nothing restarts and the output says to restart by hand.
 */

let dir: string;
const data = () => join(dir, 'data');
const log = () => join(dir, 'log');
const installDir = () => join(dir, 'install');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sideload-restart-'));
  mkdirSync(data());
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An agent stand-in: notes its name, drains on SIGTERM (noting that too), runs until then. */
function agentScript(name: string): string {
  return [
    "import { appendFileSync } from 'node:fs';",
    `const note = (what) => appendFileSync(${JSON.stringify(log())}, ${JSON.stringify(name)} + ' ' + what + '\\n');`,
    "note('started');",
    "process.on('SIGTERM', () => { note('stopped'); process.exit(0); });",
    'setInterval(() => {}, 1000);',
  ].join('\n');
}

function release(version: string): VerifiedRelease {
  const file = join(dir, `${version}.tgz`);
  writeFileSync(file, packAgentRelease({ version, agentMjs: new Uint8Array(Buffer.from(agentScript(`agent-${version}`))) }));
  return {
    kind: 'agent',
    name: 'gpufleet-agent',
    version,
    targetPath: `agent/gpufleet-agent-${version}.tgz`,
    sha256: 'a'.repeat(64),
    length: 1,
    file,
    rootVersion: 1,
  };
}

function startLauncher() {
  const builtin = join(dir, 'builtin.mjs');
  writeFileSync(builtin, agentScript('builtin'));
  const stop = new AbortController();
  const done = runLauncher({
    installDir: installDir(),
    dataDir: data(),
    runArgs: [],
    healthDeadlineMs: 60_000,
    builtinEntry: builtin,
    builtinVersion: '0.1.0',
    pollMs: 50,
    stopGraceMs: 2_000,
    logger: silentLogger,
    signal: stop.signal,
  });
  return { stop: () => (stop.abort(), done) };
}

const notes = () => (existsSync(log()) ? readFileSync(log(), 'utf8').trim().split('\n') : []);
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(notes())}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const install = (version: string, restart?: { waitMs: number }) =>
  installSideloaded({ release: release(version), dataDir: data(), installDir: installDir(), builtinVersion: '0.1.0', ...(restart ? { restart } : {}) });

describe('sideload --install with the launcher running', () => {
  it('the launcher stops the running agent and starts the side-loaded build, watching it; no restart by hand', async () => {
    const launcher = startLauncher();
    await until('the built-in agent', () => notes().includes('builtin started'));
    const text = await install('9.9.1', { waitMs: 5_000 });
    expect(text).toMatch(/^installed agent 9\.9\.1 in .*install\/a \(before: the built-in agent 0\.1\.0\)\nthe launcher is restarting the agent into it/);
    expect(text).not.toMatch(/systemctl/);
    await until('the new build', () => notes().includes('agent-9.9.1 started'));
    expect(notes()).toEqual(['builtin started', 'builtin stopped', 'agent-9.9.1 started']);
    // Still owed its self-check: the launcher watches it as after any switch.
    expect(readPendingUpdate(data())).toMatchObject({ state: 'switched', toVersion: '9.9.1', launcherRestart: 'taken', needsServer: false });
    expect(await launcher.stop()).toBe(0);
    expect(notes().at(-1)).toBe('agent-9.9.1 stopped');
  });

  it('without asking (--no-restart) the running agent is left alone and the output says to restart it', async () => {
    const launcher = startLauncher();
    await until('the built-in agent', () => notes().includes('builtin started'));
    const text = await install('9.9.1');
    expect(text).toMatch(/\nrestart the agent to run it: systemctl restart gpufleet-agent/);
    await new Promise((r) => setTimeout(r, 500)); // ten launcher polls
    expect(notes()).toEqual(['builtin started']);
    expect(readPendingUpdate(data())?.launcherRestart).toBeUndefined();
    expect(await launcher.stop()).toBe(0);
  });

  it('with no launcher running, says so after the wait and withdraws the request; a launcher started later runs the build as after a restart', async () => {
    const text = await install('9.9.1', { waitMs: 400 });
    expect(text).toMatch(
      /\nno launcher took the restart within 400 ms \(is `gpufleet-agent launch` running with this data dir\?\)\nrestart the agent to run it: /,
    );
    expect(readPendingUpdate(data())).toMatchObject({ state: 'switched', toVersion: '9.9.1' });
    expect(readPendingUpdate(data())?.launcherRestart).toBeUndefined();
    const launcher = startLauncher();
    await until('the new build', () => notes().includes('agent-9.9.1 started'));
    expect(notes()).toEqual(['agent-9.9.1 started']);
    expect(await launcher.stop()).toBe(0);
  });

  it('a pending record that does not parse restarts nothing and is not taken for a launcher answer', async () => {
    const launcher = startLauncher();
    await until('the built-in agent', () => notes().includes('builtin started'));
    // Someone switched `current` by hand and left garbage where the record goes.
    const layout = new InstallLayout(installDir());
    layout.fill('a', new Map([['gpufleet-agent/agent.mjs', new Uint8Array(Buffer.from(agentScript('hand')))]]));
    layout.switchTo('a');
    writeFileSync(pendingUpdatePath(data()), '{"v":1,"state":"switched","launcherRestart":"asked"');
    expect(await awaitLauncherRestart(data(), { waitMs: 300, pollMs: 50 })).toBe(false);
    expect(notes()).toEqual(['builtin started']);
    writeFileSync(pendingUpdatePath(data()), JSON.stringify({ v: 1, state: 'switched', launcherRestart: 'asked', toVersion: 7 }));
    await new Promise((r) => setTimeout(r, 300));
    expect(notes()).toEqual(['builtin started']);
    expect(await launcher.stop()).toBe(0);
  });
});
