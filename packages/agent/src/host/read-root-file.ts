import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Reads a text file below `rootDir` (`/` on a real host, a temp folder of recorded files in
 * tests). Returns null when the file is missing or unreadable: host facts degrade to defaults,
 * they never stop the agent.
 */
export function readRootFile(rootDir: string, path: string): string | null {
  try {
    return readFileSync(join(rootDir, path), 'utf8');
  } catch {
    return null;
  }
}
