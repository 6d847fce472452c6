import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgentCommand } from '../runtime/commands.js';
import { silentLogger } from '../runtime/logger.js';
import { AGENT_ENTRY } from './agent-release.js';
import { InstallLayout } from './install-layout.js';
import { INSTALL_DIR_ENV, runLauncher } from './launcher.js';
import { readPendingUpdate, writePendingUpdate } from './pending-update.js';

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

function installSlot(slot: 'a' | 'b', body: string): void {
  layout.fill(slot, new Map([[AGENT_ENTRY, new Uint8Array(Buffer.from(script(slot, body)))]]));
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
