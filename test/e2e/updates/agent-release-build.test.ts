import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackAgentRelease } from '@gpufleet/agent';
import { buildAgentRelease } from '../../../scripts/build-agent-release.js';
import { assertAgentBuilt, REPO } from './agent-fleet.js';

/**
 * The agent release artifact (issue 14): `npm run release:agent` builds a tgz that the system
 * tar reads, holding one bundled agent.mjs with the version baked in, which runs with nothing
 * but node (no node_modules next to it).
 */

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-agent-release-'));
let tgz: string;

async function outcome(file: string, args: string[], cwd = work) {
  try {
    const { stdout, stderr } = await run(file, args, { cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  assertAgentBuilt();
  tgz = await buildAgentRelease({ version: '9.9.4-rc.1', outDir: join(work, 'out') });
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run release:agent', { timeout: 60_000 }, () => {
  it('writes gpufleet-agent-V.tgz: a standard tgz with agent.mjs and release.json', async () => {
    expect(tgz).toBe(join(work, 'out', 'gpufleet-agent-9.9.4-rc.1.tgz'));
    const list = await outcome('tar', ['-tzf', tgz]);
    expect(list.stdout.trim().split('\n').sort()).toEqual(['gpufleet-agent/agent.mjs', 'gpufleet-agent/release.json']);
    const files = unpackAgentRelease(readFileSync(tgz), '9.9.4-rc.1');
    expect(JSON.parse(files.get('gpufleet-agent/release.json')!.toString())).toEqual({ version: '9.9.4-rc.1' });
  });

  it('its agent runs with node alone, far from the repository, and knows its version', async () => {
    const far = join(work, 'far');
    mkdirSync(far);
    await run('tar', ['-xzf', tgz, '-C', far]);
    const agent = join(far, 'gpufleet-agent', 'agent.mjs');
    expect(await outcome(process.execPath, [agent, '--version'], far)).toMatchObject({ code: 0, stdout: '9.9.4-rc.1\n' });
    expect((await outcome(process.execPath, [agent, '--help'], far)).stdout).toMatch(/launch -- <run options>/);
    const noKey = await outcome(process.execPath, [agent, 'run', '--data-dir', join(far, 'data')], far);
    expect(noKey).toMatchObject({ code: 1, stderr: expect.stringMatching(/no node key in .*data: join a fleet first/) });
  });

  it('refuses garbage flags and versions', async () => {
    await expect(buildAgentRelease({ version: '../9', outDir: work })).rejects.toThrow(/is not a release version/);
    const tsx = join(REPO, 'node_modules', '.bin', 'tsx');
    const script = join(REPO, 'scripts', 'build-agent-release.ts');
    expect(await outcome(tsx, [script, '--bogus'], REPO)).toMatchObject({ code: 2, stderr: expect.stringMatching(/release:agent: .*bogus/) });
    expect(await outcome(tsx, [script, '--version', '1.0.0'], REPO)).toMatchObject({ code: 2, stderr: expect.stringMatching(/usage: npm run release:agent/) });
    expect(await outcome(tsx, [script, '--version', 'a b', '--out', work], REPO)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--version 'a b' is not a release version/),
    });
  });
});
