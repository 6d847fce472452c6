import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDurationMs } from '@gpufleet/protocol';
import { createJsonLogger, isLogLevel, LOG_LEVELS, type Logger } from '../runtime/logger.js';
import { AGENT_VERSION } from '../runtime/version.js';
import { runLauncher } from './launcher.js';

/** Where agent builds are installed when --install-dir is not given. */
export const DEFAULT_INSTALL_SUBDIR = 'agent-install';
const DEFAULT_HEALTH_DEADLINE = '120s';

/** The `--data-dir` among `run`'s arguments (both `--data-dir D` and `--data-dir=D`), or null. */
export function dataDirOf(runArgs: readonly string[]): string | null {
  let found: string | null = null;
  for (let i = 0; i < runArgs.length; i++) {
    const a = runArgs[i]!;
    if (a === '--data-dir' && i + 1 < runArgs.length) found = runArgs[++i]!;
    else if (a.startsWith('--data-dir=')) found = a.slice('--data-dir='.length);
  }
  return found;
}

/**
 * `gpufleet-agent launch [--install-dir D] [--health-deadline 120s] -- <run options>`: parses
 * the launcher's own flags (before `--`) and hands the rest to every `run` it starts.
 */
export async function launchCommand(
  args: string[],
  o: { usage: (message: string) => Error; defaultDataDir: string; builtinEntry: string; logger?: Logger; signal?: AbortSignal },
): Promise<number> {
  const split = args.indexOf('--');
  const own = split === -1 ? args : args.slice(0, split);
  let runArgs = split === -1 ? [] : args.slice(split + 1);
  if (runArgs[0] === 'run') runArgs = runArgs.slice(1);
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    strict: true,
    options: { 'install-dir': { type: 'string' }, 'health-deadline': { type: 'string' }, 'log-level': { type: 'string' } },
  });
  if (positionals.length > 0) throw o.usage(`launch takes the run options after --, e.g. launch -- --data-dir D (got '${positionals[0]}')`);
  if (values['install-dir'] === '') throw o.usage('--install-dir needs a folder');
  let healthDeadlineMs: number;
  try {
    healthDeadlineMs = parseDurationMs(values['health-deadline'] ?? DEFAULT_HEALTH_DEADLINE);
  } catch (err) {
    throw o.usage(`--health-deadline: ${(err as Error).message}`);
  }
  if (healthDeadlineMs < 1000 || healthDeadlineMs > 86_400_000) throw o.usage('--health-deadline must be from 1s to 24h');
  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) throw o.usage(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  const runDataDir = dataDirOf(runArgs);
  if (runDataDir === '') throw o.usage('--data-dir needs a folder');
  const dataDir = runDataDir ?? o.defaultDataDir;
  return runLauncher({
    installDir: values['install-dir'] ?? join(dataDir, DEFAULT_INSTALL_SUBDIR),
    dataDir,
    runArgs,
    healthDeadlineMs,
    builtinEntry: o.builtinEntry,
    builtinVersion: AGENT_VERSION,
    logger: o.logger ?? createJsonLogger({ level }),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}
