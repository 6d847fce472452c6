import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgentCommand } from '../runtime/commands.js';
import { silentLogger } from '../runtime/logger.js';
import { AGENT_ENTRY, AGENT_RELEASE_JSON } from './agent-release.js';
import { InstallLayout } from './install-layout.js';
import { INSTALL_DIR_ENV, runLauncher } from './launcher.js';
import { readPendingUpdate, writePendingUpdate } from './pending-update.js';
import { takeSideloadReports } from './sideload-reports.js';
import { SLOT_MANIFEST } from './slot-manifest.js';

/**
 * The launcher with real child processes standing in for agent builds (small scripts): it
 * restarts on exit 75, goes back when a switched-to build exits or misses its deadline before
 * confirming, and leaves a confirmed one alone.
 */

let dir: string;
let layout: InstallLayout;
const data = () => join(dir, 'data');
const log = () => join(dir, 'log');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'launcher-'));
  mkdirSync(data());
  layout = new InstallLayout(join(dir, 'install'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A script that notes its name (and what the launcher gave it) in the log, then does `body`. */
function script(name: string, body: string): string {
  return [
    "import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';",
    `appendFileSync(${JSON.stringify(log())}, ${JSON.stringify(name)} + ' ' + process.argv.slice(2).join(' ') + ' ' + (process.env.${INSTALL_DIR_ENV} ?? '-') + '\\n');`,
    body,
  ].join('\n');
}

function installSlot(slot: 'a' | 'b', body: string, version?: string): void {
  const files = new Map([[AGENT_ENTRY, new Uint8Array(Buffer.from(script(slot, body)))]]);
  if (version) files.set(AGENT_RELEASE_JSON, new Uint8Array(Buffer.from(JSON.stringify({ version }))));
  layout.fill(slot, files);
}

function pending(): void {
  writePendingUpdate(data(), {
    v: 1,
    rolloutId: 'rollout-0001',
    op: 'update',
    fromVersion: '1.0.0',
    toVersion: '2.0.0',
    version: '2.0.0',
    state: 'switched',
    switchedAt: Date.now(),
    reason: null,
  });
}

function launch(over: { healthDeadlineMs?: number; signal?: AbortSignal; builtin?: string } = {}) {
  const builtin = join(dir, 'builtin.mjs');
  if (!existsSync(builtin)) writeFileSync(builtin, script('builtin', over.builtin ?? 'process.exit(0);'));
  return runLauncher({
    installDir: layout.dir,
    dataDir: data(),
    runArgs: ['--data-dir', data()],
    healthDeadlineMs: over.healthDeadlineMs ?? 60_000,
    builtinEntry: builtin,
    builtinVersion: '0.1.0',
    pollMs: 50,
    stopGraceMs: 2_000,
    logger: silentLogger,
    ...(over.signal ? { signal: over.signal } : {}),
  });
}

const started = () =>
  readFileSync(log(), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[0]);

describe('gpufleet-agent launch', () => {
  it('goes back to the previous build when the new one exits before its self-check', async () => {
    installSlot('b', 'process.exit(0);');
    layout.switchTo('b');
    installSlot('a', 'process.exit(1);');
    layout.switchTo('a');
    pending();
    expect(await launch()).toBe(0);
    expect(started()).toEqual(['a', 'b']);
    expect(layout.current).toBe('b');
    expect(readPendingUpdate(data())).toMatchObject({ state: 'rolled-back', reason: 'the new agent 2.0.0 exited with code 1 before its self-check' });
    expect(readFileSync(log(), 'utf8')).toContain(`a run --data-dir ${data()} ${layout.dir}`);
  });

  it('goes back to the built-in agent when the first release misses its deadline, stopping it', async () => {
    installSlot('a', 'setInterval(() => {}, 1000);');
    layout.switchTo('a');
    pending();
    expect(await launch({ healthDeadlineMs: 1000 })).toBe(0);
    expect(started()).toEqual(['a', 'builtin']);
    expect(layout.current).toBeNull();
    expect(readPendingUpdate(data())).toMatchObject({ state: 'rolled-back', reason: 'the new agent 2.0.0 did not pass its self-check within 1 s' });
  });

  it('leaves a build that confirmed alone, and starts it again when it exits 75', async () => {
    installSlot('b', 'process.exit(0);');
    layout.switchTo('b');
    const confirm = `const f = ${JSON.stringify(join(data(), 'agent-update.json'))}; const r = JSON.parse(readFileSync(f, 'utf8')); r.state = 'confirmed'; writeFileSync(f, JSON.stringify(r));`;
    const count = join(dir, 'count');
    installSlot(
      'a',
      `${confirm}\nconst n = Number(readFileSync(${JSON.stringify(count)}, 'utf8')); writeFileSync(${JSON.stringify(count)}, String(n + 1)); setTimeout(() => process.exit(n === 0 ? 75 : 3), 300);`,
    );
    writeFileSync(count, '0');
    layout.switchTo('a');
    pending();
    expect(await launch({ healthDeadlineMs: 60_000 })).toBe(3);
    expect(started()).toEqual(['a', 'a']);
    expect(layout.current).toBe('a');
    expect(readPendingUpdate(data())).toMatchObject({ state: 'confirmed' });
  });

  it('runs the built-in agent when nothing is installed, and stops it when told to', async () => {
    const stop = new AbortController();
    const running = launch({ signal: stop.signal, builtin: "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);" });
    for (let i = 0; i < 200 && !existsSync(log()); i++) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    expect(await running).toBe(0);
    expect(started()).toEqual(['builtin']);
  });

  it('refuses a bad command line with exit 2', async () => {
    const run = async (...args: string[]) => {
      let stderr = '';
      const code = await runAgentCommand(['launch', ...args], { stderr: (t) => void (stderr += t), stdout: () => {} });
      return { code, stderr };
    };
    expect(await run('extra')).toMatchObject({ code: 2, stderr: expect.stringMatching(/launch takes the run options after --/) });
    expect(await run('--health-deadline', 'soon')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--health-deadline: 'soon' is not a duration/) });
    expect(await run('--health-deadline', '0s')).toMatchObject({ code: 2, stderr: expect.stringMatching(/from 1s to 24h/) });
    expect(await run('--install-dir', '')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--install-dir needs a folder/) });
    expect(await run('--log-level', 'loud')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--log-level must be one of/) });
    expect(await run('--bogus')).toMatchObject({ code: 2, stderr: expect.stringMatching(/bogus/) });
    expect(await run('--', '--data-dir', '')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--data-dir needs a folder/) });
    // And run's own switch for updates.
    let stderr = '';
    expect(await runAgentCommand(['run', '--updates', 'maybe'], { stderr: (t) => void (stderr += t) })).toBe(2);
    expect(stderr).toMatch(/--updates must be on or off, got 'maybe'/);
  });
});

/** What the agent that starts next reports from the kept reports. */
function keptReports() {
  const out: Array<Record<string, unknown>> = [];
  takeSideloadReports(data(), (d) => void out.push(d));
  return out;
}

describe('gpufleet-agent launch: a build whose files changed since install is not started', () => {
  it('goes back to the build before when the running build was edited, and leaves a failed report for the agent', async () => {
    installSlot('b', 'process.exit(0);', '1.0.0');
    layout.switchTo('b');
    installSlot('a', 'process.exit(0);', '2.0.0');
    layout.switchTo('a');
    expect(layout.problem('a')).toBeNull();
    appendFileSync(join(layout.slotDir('a'), AGENT_ENTRY), '\nconsole.log("edited by hand");\n');
    expect(await launch()).toBe(0);
    expect(started()).toEqual(['b']);
    expect(layout.current).toBe('b');
    expect(readPendingUpdate(data())).toBeNull();
    const reports = keptReports();
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({
      rolloutId: null,
      kind: 'agent',
      version: '2.0.0',
      fromVersion: '2.0.0',
      runningVersion: '1.0.0',
      state: 'failed',
      rolledBack: true,
    });
    expect(reports[0]!.message).toMatch(
      /^agent 2\.0\.0 in slot a was not started: gpufleet-agent\/agent\.mjs changed since it was installed \(sha256 [0-9a-f]{16}…, installed [0-9a-f]{16}…\); running slot b instead$/,
    );
  });

  it('fails the switch in flight when the new build lost a file, starting the built-in agent without watching it', async () => {
    installSlot('a', 'setInterval(() => {}, 1000);', '2.0.0');
    layout.switchTo('a');
    pending();
    rmSync(join(layout.slotDir('a'), AGENT_RELEASE_JSON));
    expect(await launch({ healthDeadlineMs: 1000 })).toBe(0);
    expect(started()).toEqual(['builtin']);
    expect(layout.current).toBeNull();
    expect(readPendingUpdate(data())).toMatchObject({
      state: 'rolled-back',
      reason: 'agent build in slot a was not started: gpufleet-agent/release.json is missing',
    });
    expect(keptReports()).toEqual([]);
  });

  it('refuses slots with no manifest or a garbage one, falling back through both to the built-in agent', async () => {
    installSlot('b', 'process.exit(0);', '1.0.0');
    layout.switchTo('b');
    installSlot('a', 'process.exit(0);', '2.0.0');
    layout.switchTo('a');
    writeFileSync(join(layout.slotDir('a'), SLOT_MANIFEST), '{"v":1,"files":{"gpufleet-agent/agent.mjs":"not a hash"}}');
    rmSync(join(layout.slotDir('b'), SLOT_MANIFEST));
    expect(await launch()).toBe(0);
    expect(started()).toEqual(['builtin']);
    expect(layout.current).toBeNull();
    const messages = keptReports().map((r) => r.message);
    expect(messages).toEqual([
      `agent 2.0.0 in slot a was not started: its record of installed files (${SLOT_MANIFEST}) is not one this agent writes; running slot b instead`,
      `agent 1.0.0 in slot b was not started: it has no record of its installed files (${SLOT_MANIFEST}); running the built-in agent instead`,
    ]);
    // A manifest that does not parse, or names a file outside the slot, is refused too.
    writeFileSync(join(layout.slotDir('a'), SLOT_MANIFEST), 'garbage{');
    expect(layout.problem('a')).toMatch(/is not JSON/);
    writeFileSync(
      join(layout.slotDir('a'), SLOT_MANIFEST),
      JSON.stringify({ v: 1, files: { '../../etc/passwd': 'a'.repeat(64), [AGENT_ENTRY]: 'a'.repeat(64) } }),
    );
    expect(layout.problem('a')).toMatch(/names '\.\.\/\.\.\/etc\/passwd', outside the slot/);
  });
});
