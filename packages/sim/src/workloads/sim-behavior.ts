import { FleetError } from '@gpufleet/protocol';
import { parseSimDuration } from '../faults/fault-spec.js';

/**
 * How a simulated workload behaves, read from its allocation's env. The env is part of the
 * signed job spec, so a scenario or a benchmark says in the job file itself what its fake
 * workload does (a version whose health checks fail, a batch job that exits 0 after 2 s),
 * and the same file always does the same thing:
 *
 *   SIM_START_DELAY  500ms         how long the start takes (default: the executor's small delay)
 *   SIM_START_ERROR  'no image'    the start fails with this message
 *   SIM_EXIT_AFTER   2s            the workload exits by itself this long after it started...
 *   SIM_EXIT_CODE    0             ...with this code (default 0)
 *   SIM_HEALTH       pass | fail   what its health checks answer (default pass)
 */
export interface SimBehavior {
  startDelayMs: number | null;
  startError: string | null;
  exitAfterMs: number | null;
  exitCode: number;
  health: 'pass' | 'fail';
}

export const SIM_ENV_KEYS = ['SIM_START_DELAY', 'SIM_START_ERROR', 'SIM_EXIT_AFTER', 'SIM_EXIT_CODE', 'SIM_HEALTH'] as const;

/** The longest delay a fake start or exit may ask for: a simulated fleet is for seconds-long runs. */
const MAX_SIM_DELAY_MS = 3_600_000;

/** Reads the SIM_* variables; throws FleetError('invalid_argument') naming the variable and a valid example. */
export function simBehavior(env: Readonly<Record<string, string>>): SimBehavior {
  const duration = (key: string, example: string): number | null => {
    const text = env[key];
    if (text === undefined) return null;
    const ms = parseSimDuration(text);
    if (ms === null || ms > MAX_SIM_DELAY_MS) throw new FleetError('invalid_argument', `${key} '${text}' is not a duration of at most 1h such as ${example}`);
    return ms;
  };
  const codeText = env.SIM_EXIT_CODE;
  let exitCode = 0;
  if (codeText !== undefined) {
    if (!/^\d{1,3}$/.test(codeText) || Number(codeText) > 255)
      throw new FleetError('invalid_argument', `SIM_EXIT_CODE '${codeText}' is not an exit code from 0 to 255`);
    exitCode = Number(codeText);
  }
  const health = env.SIM_HEALTH ?? 'pass';
  if (health !== 'pass' && health !== 'fail') throw new FleetError('invalid_argument', `SIM_HEALTH '${health}' is not pass or fail`);
  const startError = env.SIM_START_ERROR;
  if (startError !== undefined && startError.trim() === '')
    throw new FleetError('invalid_argument', 'SIM_START_ERROR is empty: give the message the start fails with');
  const exitAfterMs = duration('SIM_EXIT_AFTER', '2s');
  if (codeText !== undefined && exitAfterMs === null)
    throw new FleetError('invalid_argument', 'SIM_EXIT_CODE needs SIM_EXIT_AFTER: when the workload exits with it, e.g. 2s');
  return {
    startDelayMs: duration('SIM_START_DELAY', '500ms'),
    startError: startError ?? null,
    exitAfterMs,
    exitCode,
    health,
  };
}
