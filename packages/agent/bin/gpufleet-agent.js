#!/usr/bin/env node
// `gpufleet-agent` as npm links it (npx gpufleet-agent, node_modules/.bin): the built agent in
// ../dist. npm links bins at install time, before anything is built, so the link must point at
// a file that exists then: this one. Without a build it says what to do instead of a stack trace.
import { existsSync } from 'node:fs';

const main = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('error: gpufleet-agent is not built yet: run `npm run build` in the gpufleet folder first\n');
  process.exit(1);
}
await import(main.href);
