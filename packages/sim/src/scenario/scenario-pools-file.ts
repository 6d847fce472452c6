import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { stringify } from 'yaml';
import { FleetError, parsePoolsFile } from '@gpufleet/protocol';
import type { ScenarioPools } from './pool-schema.js';

/** A scenario's pools file: its text as `gpufleet pools apply` sends it, and what the checks need of it. */
export interface ScenarioPoolsFile {
  text: string;
  /** The file's name (or `inline pools`), for the server's messages. */
  filename: string;
  /** Where its relative paths resolve. */
  baseDir: string;
  /** Each pool's min_nodes: the run starts once each has that many READY. */
  minNodes: Map<string, number>;
}

/**
 * Reads a scenario's pools file (a path relative to the scenario, or the file inline) and checks
 * it as the server will, when the scenario loads, so a bad one fails before a server starts; the
 * problem names the line and field (the field only, for an inline one).
 */
export function loadScenarioPools(pools: ScenarioPools, dir: string): ScenarioPoolsFile {
  let text: string;
  let filename: string;
  let baseDir = dir;
  if (typeof pools === 'string') {
    const path = isAbsolute(pools) ? pools : resolve(dir, pools);
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new FleetError('invalid_argument', `cannot read pools file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    filename = basename(path);
    baseDir = dirname(path);
  } else {
    text = stringify(pools);
    filename = 'inline pools';
  }
  const config = parsePoolsFile(text, { file: filename });
  return { text, filename, baseDir, minNodes: new Map(Object.values(config.pools).map((p) => [p.name, p.minNodes])) };
}
