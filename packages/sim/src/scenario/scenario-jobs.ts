import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { stringify } from 'yaml';
import { FleetError, parseJobFile, type JobFileProblem, type JobSpec } from '@gpufleet/protocol';

/** A job a scenario submits: its normalized spec (what is signed) and the job file text (kept by the server). */
export interface ScenarioJob {
  spec: JobSpec;
  source: string;
  /** Where it came from: the job file's path, or `inline`. */
  from: string;
}

/**
 * Reads a scenario's job: a job file path (relative to the scenario's folder) or a job file
 * written inline as a mapping. Checked as `gpufleet jobs run` checks a file, when the scenario
 * loads, so a bad job fails before any server starts; the problem names the file's line and
 * field (or the field of the inline job).
 */
export function loadScenarioJob(job: string | Record<string, unknown>, dir: string): ScenarioJob {
  if (typeof job === 'string') {
    const path = isAbsolute(job) ? job : resolve(dir, job);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new FleetError('invalid_argument', `cannot read job file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return { spec: parseJobFile(text, { file: job }), source: text, from: job };
  }
  const text = stringify(job);
  try {
    return { spec: parseJobFile(text, { file: 'inline job' }), source: text, from: 'inline' };
  } catch (err) {
    // Lines of the text made from the mapping mean nothing to the reader: name the fields only.
    const problems = FleetError.is(err) ? (err.details as { problems?: JobFileProblem[] } | undefined)?.problems : undefined;
    if (!problems?.length) throw err;
    throw new FleetError('invalid_argument', `inline job: ${problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`)).join('; ')}`);
  }
}
