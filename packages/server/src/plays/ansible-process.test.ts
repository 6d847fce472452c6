import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAnsible } from './ansible-process.js';

/** Real processes stand in for ansible-playbook: how it is started, stopped, and cleaned up after. */
describe('startAnsible', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-ansible-process-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  function start(script: string, graceMs = 5000) {
    const out: string[] = [];
    const err: string[] = [];
    const run = startAnsible({
      program: '/bin/sh',
      args: ['-c', script],
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      onStdout: (l) => out.push(l),
      onStderr: (l) => err.push(l),
      graceMs,
    });
    return { run, out, err };
  }

  it('hands over output line by line and the exit code, and ends what the program left running in its group', async () => {
    const pidFile = join(dir, 'left.pid');
    const { run, out, err } = start(`sleep 30 & echo $! > ${pidFile}; echo one; echo two; echo oops >&2; exit 3`);
    expect(await run.done).toEqual({ code: 3, signal: null });
    expect(out).toEqual(['one', 'two']);
    expect(err).toEqual(['oops']);
    const left = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => alive(left), { timeout: 3000 }).toBe(false);
  });

  it('stop interrupts the program (SIGINT to its group), and kills it after the grace when it holds on', async () => {
    const polite = start('exec sleep 30');
    polite.run.stop();
    expect(await polite.run.done).toEqual({ code: null, signal: 'SIGINT' });
    const stubborn = start("trap '' INT; sleep 30 & wait $!; sleep 30", 200);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    stubborn.run.stop();
    expect((await stubborn.run.done).signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a program that cannot be started exits 127 with the reason on stderr', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const run = startAnsible({
      program: join(dir, 'no-such-ansible'),
      args: [],
      cwd: dir,
      env: {},
      onStdout: (l) => out.push(l),
      onStderr: (l) => err.push(l),
    });
    expect((await run.done).code).toBe(127);
    expect(err.join('\n')).toMatch(/no-such-ansible/);
  });
});
