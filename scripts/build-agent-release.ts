/**
 * `npm run release:agent -- --version V --out DIR`: the agent release artifact (issue 14),
 * `DIR/gpufleet-agent-V.tgz`, built from the built tree (packages/agent/dist, `npm run build`).
 * esbuild bundles the agent's bin into one ESM file with the version baked in; the tarball is
 * written by the agent's own ustar writer and node:zlib, the same code that reads it on hosts.
 * Publish it with `gpufleet releases publish agent DIR/gpufleet-agent-V.tgz --version V`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { RELEASE_VERSION } from '../packages/protocol/src/release-views.js';
import { packAgentRelease } from '../packages/agent/src/updates/agent-release.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(REPO, 'packages/agent/dist/bin.js');

/**
 * Optional native add-ons of dependencies: each is loaded in a try/catch and has a JavaScript
 * fallback (ssh2's crypto binding and cpu-features through dockerode, bufferutil and
 * utf-8-validate through ws). Left out of the bundle, they are simply not found at run time.
 */
const OPTIONAL_NATIVE = ['cpu-features', 'bufferutil', 'utf-8-validate', '*.node'];

/** Builds the tgz and returns its path. */
export async function buildAgentRelease(o: { version: string; outDir: string }): Promise<string> {
  if (!RELEASE_VERSION.test(o.version)) throw new Error(`--version '${o.version}' is not a release version (e.g. 0.3.0)`);
  if (!existsSync(ENTRY)) throw new Error('the agent is not built: run `npm run build` first');
  const work = join(tmpdir(), `gpufleet-agent-release-${process.pid}-${Date.now()}`);
  try {
    const outfile = join(work, 'agent.mjs');
    await build({
      entryPoints: [ENTRY],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      define: { __GPUFLEET_AGENT_VERSION__: JSON.stringify(o.version) },
      external: OPTIONAL_NATIVE,
      // CommonJS dependencies use require, __filename and __dirname; an ESM bundle has none unless it makes them.
      banner: {
        js: [
          "import { createRequire as __gpufleetRequire } from 'node:module';",
          "import { fileURLToPath as __gpufleetPath } from 'node:url';",
          'const require = __gpufleetRequire(import.meta.url);',
          'const __filename = __gpufleetPath(import.meta.url);',
          "const __dirname = __gpufleetPath(new URL('.', import.meta.url));",
        ].join(' '),
      },
      legalComments: 'none',
      logLevel: 'error',
    });
    const tgz = packAgentRelease({ version: o.version, agentMjs: new Uint8Array(readFileSync(outfile)) });
    mkdirSync(o.outDir, { recursive: true });
    const out = join(o.outDir, `gpufleet-agent-${o.version}.tgz`);
    writeFileSync(out, tgz);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let values: { version?: string; out?: string };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), strict: true, options: { version: { type: 'string' }, out: { type: 'string' } } }));
  } catch (err) {
    process.stderr.write(`release:agent: ${(err as Error).message}\nusage: npm run release:agent -- --version V --out DIR\n`);
    return 2;
  }
  if (!values.version || !values.out) {
    process.stderr.write('usage: npm run release:agent -- --version V --out DIR\n');
    return 2;
  }
  try {
    const out = await buildAgentRelease({ version: values.version, outDir: values.out });
    process.stdout.write(`wrote ${out} (${readFileSync(out).length} bytes): agent ${values.version}\n`);
    process.stdout.write(`publish it: gpufleet releases publish agent ${out} --version ${values.version} --keys KEYS\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`release:agent: error: ${(err as Error).message.split('\n')[0]}\n`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = await main();
