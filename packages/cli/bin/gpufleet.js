#!/usr/bin/env node
// `gpufleet` as npm links it (npx gpufleet, node_modules/.bin): the built CLI in ../dist. npm
// links bins at install time, before anything is built, so the link must point at a file that
// exists then: this one. Without a build it says what to do instead of a module-not-found trace.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('error: gpufleet is not built yet: run `npm run build` in the gpufleet folder first (`npm start` and `npm test` build too)\n');
  process.exit(1);
}
await import(main.href);
