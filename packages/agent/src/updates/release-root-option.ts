import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { ReleaseVerifier } from './release-verifier.js';
import { RELEASES_DIR } from './sideload-command.js';

/**
 * `--release-root FILE` of `join` and `run` (issue 14): the fleet's release root (1.root.json of
 * `gpufleet releases keys init`) for a host that trusts none yet, so online updates can be
 * verified. A host that trusts one keeps it: roots change only by a rotation signed by the old
 * keys, never by a flag. Returns a line saying which happened.
 */
export function trustReleaseRootFile(dataDir: string, file: string): string {
  const stateDir = join(dataDir, RELEASES_DIR);
  const trusted = ReleaseVerifier.trustedRootVersion(stateDir);
  if (trusted !== null) return `this host already trusts release root version ${trusted}; --release-root is not used`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetError('not_found', `cannot read --release-root ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  ReleaseVerifier.trustRoot(stateDir, text);
  return `trusting the release root in ${file} from now on`;
}
