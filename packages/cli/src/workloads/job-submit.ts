import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import {
  JOB_FILE_MAX_BYTES,
  WORKLOAD_ABILITY,
  parseJobFile,
  signJob,
  type Capability,
  type JobPayload,
  type JobSpec,
  type SignedJob,
} from '@gpufleet/protocol';
import { UsageError } from '../errors.js';
import type { OperatorKey } from '../keys/index.js';

/** A job file read from disk and checked here: its text (sent along, for people) and the spec it gives. */
export interface JobFile {
  source: string;
  spec: JobSpec;
}

/**
 * Reads and parses a job file (`-` is stdin, given as `stdin`). Every problem of the file is a
 * usage error naming the file, line and field, found before a key is unlocked or a request sent.
 */
export function readJobFile(file: string, cwd: string, stdin?: string): JobFile {
  let source: string;
  if (file === '-') {
    if (stdin === undefined) throw new UsageError('no job file on stdin');
    source = stdin;
  } else {
    const path = resolve(cwd, file);
    try {
      const st = statSync(path);
      if (st.isDirectory()) throw new UsageError(`${file} is a folder, not a job file`);
      // A huge file is refused before it is read whole.
      if (st.size > JOB_FILE_MAX_BYTES) throw new UsageError(`${file} is ${st.size} bytes; a job file is at most 1 MiB`);
      source = readFileSync(path, 'utf8');
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read job file ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`);
    }
  }
  // parseJobFile throws FleetError('invalid_argument'): exit code 2, one line with file:line:col.
  return { source, spec: parseJobFile(source, { file: file === '-' ? 'stdin' : basename(file) }) };
}

/** Whether a capability's own grant (its last link) includes workload/run. */
export function grantsWorkloadRun(cap: Capability): boolean {
  return cap.can.includes(WORKLOAD_ABILITY) || cap.can.includes('*');
}

/**
 * The payload an operator signs for a job, as `exec` builds a command's: issued now, a fresh
 * random nonce, the key's DID as invoker and the operator's capability (null for a fleet root).
 */
export function buildJobPayload(spec: JobSpec, key: Pick<OperatorKey, 'did'>, capability: Capability | null, now: number): JobPayload {
  return { v: 1, job: spec, issuedAt: now, nonce: randomBytes(16).toString('hex'), invoker: key.did, capability };
}

/** Signs a job spec with the operator's key, checking first that the capability is theirs and grants workload/run. */
export function signJobSpec(
  spec: JobSpec,
  key: Pick<OperatorKey, 'did' | 'privateKeyPem'>,
  capability: Capability | null,
  now: number,
  capFile = '',
): SignedJob {
  if (capability) {
    const named = capFile ? `--cap ${capFile}` : 'your capability';
    if (capability.aud !== key.did) throw new UsageError(`${named} was granted to ${capability.aud}, not to your key ${key.did}`);
    if (!grantsWorkloadRun(capability))
      throw new UsageError(`${named} grants ${capability.can.join(', ')}, not ${WORKLOAD_ABILITY}: hosts would refuse the job`);
  }
  return signJob(buildJobPayload(spec, key, capability, now), key.privateKeyPem);
}
