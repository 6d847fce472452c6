import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// <repo>/packages/agent/src/testing -> <repo>/../shared/fixtures (CI puts shared/ beside the clone).
const defaultRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');

/** Absolute path of a recorded fixture file. */
export function fixturePath(...parts: string[]): string {
  return join(process.env.GPUFLEET_FIXTURES ?? defaultRoot, ...parts);
}

export function readFixture(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), 'utf8');
}

/** File names in a fixture folder that match the pattern, sorted. */
export function listFixtures(dir: string, pattern: RegExp): string[] {
  return readdirSync(fixturePath(dir))
    .filter((name) => pattern.test(name))
    .sort();
}
