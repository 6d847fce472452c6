import { readFileSync } from 'node:fs';

// Set by scripts/build-agent-release.ts (esbuild `define`) in a release's one-file agent.mjs; absent in the tsc build.
declare const __GPUFLEET_AGENT_VERSION__: string | undefined;

/** True in a release build (one bundled agent.mjs), false when run from the built tree. */
export const AGENT_BUNDLED: boolean = typeof __GPUFLEET_AGENT_VERSION__ === 'string';

/**
 * This agent build's version: baked in by the release build, else from
 * packages/agent/package.json (src/ and dist/ sit at the same depth).
 */
export const AGENT_VERSION: string = (() => {
  if (typeof __GPUFLEET_AGENT_VERSION__ === 'string') return __GPUFLEET_AGENT_VERSION__;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0-unknown';
  } catch {
    return '0.0.0-unknown';
  }
})();
