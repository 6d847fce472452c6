import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `npx gpufleet` and `npx gpufleet-agent` right after `npm ci`: npm links a package's bins
 * while it installs, before anything is built, and skips a bin whose file does not exist. A
 * fresh copy of the workspace (root and package manifests, bin folders, no dist) gets its bins
 * linked by npm's own linker (`npm rebuild --ignore-scripts`, the step `npm ci` runs after
 * unpacking), then the links run: first unbuilt, then with the repository's build.
 */

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
const PACKAGES = [
  { dir: 'packages/cli', bin: 'gpufleet', dist: 'dist/main.js' },
  { dir: 'packages/agent', bin: 'gpufleet-agent', dist: 'dist/bin.js' },
];

let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'gpufleet-fresh-install-'));
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(root, 'package.json'), JSON.stringify(pkg, null, 2));
  mkdirSync(join(root, 'node_modules/@gpufleet'), { recursive: true });
  for (const p of PACKAGES) {
    mkdirSync(join(root, p.dir), { recursive: true });
    cpSync(join(REPO, p.dir, 'package.json'), join(root, p.dir, 'package.json'));
    if (existsSync(join(REPO, p.dir, 'bin'))) cpSync(join(REPO, p.dir, 'bin'), join(root, p.dir, 'bin'), { recursive: true });
    // How npm installs a workspace: a link from node_modules to its folder.
    symlinkSync(`../../${p.dir}`, join(root, 'node_modules/@gpufleet', p.dir.split('/')[1]!));
  }
  await run('npm', ['rebuild', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], { cwd: root, timeout: 60_000 });
}, 90_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs a linked bin through npx, offline (never the registry). */
function npx(bin: string, args: string[]) {
  return run('npx', ['--offline', bin, ...args], { cwd: root, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    }),
  );
}

describe('bins from a fresh install', () => {
  it('are linked although nothing is built yet', () => {
    for (const p of PACKAGES) {
      const link = join(root, 'node_modules/.bin', p.bin);
      expect(existsSync(link), `${p.bin} is linked`).toBe(true);
      expect(readlinkSync(link)).toMatch(new RegExp(`^\\.\\./@gpufleet/\\w+/bin/${p.bin}\\.js$`));
    }
  });

  it('say "run npm run build first" before a build', async () => {
    for (const p of PACKAGES) {
      const r = await npx(p.bin, ['--help']);
      expect(r.code, p.bin).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error: ${p.bin} is not built yet: run \`npm run build\``));
      expect(r.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|at .*\.js:\d+/);
    }
  });

  it('run the built CLI and agent', async () => {
    for (const p of PACKAGES) {
      if (!existsSync(join(REPO, p.dir, p.dist))) throw new Error(`${p.dir}/${p.dist} is missing: run \`npm run build\` first (\`npm test\` does it)`);
      // The build lands in dist; a link to the repository's keeps its dependencies resolvable.
      symlinkSync(join(REPO, p.dir, 'dist'), join(root, p.dir, 'dist'));
    }
    const version = await npx('gpufleet', ['--version']);
    expect(version).toMatchObject({ code: 0, stderr: '' });
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO, 'packages/cli/package.json'), 'utf8')).version);
    const help = await npx('gpufleet', ['nodes', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: gpufleet nodes/);
    const agent = await npx('gpufleet-agent', ['--help']);
    expect(agent.code).toBe(0);
    expect(agent.stdout + agent.stderr).toMatch(/usage: gpufleet-agent <command>/);
    const bad = await npx('gpufleet-agent', ['join']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/join needs the join token/);
  }, 60_000);
});
