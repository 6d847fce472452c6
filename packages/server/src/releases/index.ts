/** Signed releases (issue 14): what the CLI runs on the operator's machine, and the repository service. */
export {
  initKeyDir,
  signNextRoot,
  readKeyDir,
  readRootFile,
  latestRoot,
  type KeyDir,
  type KeyFile,
  type InitKeyDirOptions,
  type SignRootOptions,
} from './key-dir.js';
export { signingKeyFromPem, generateTufKey, tufKeyId, type TufSigningKey, type TufKeyJson } from './tuf-keys.js';
export { parseMetadata, checkRootSuccession, tufExpires, TUF_ROLES, type TufRole, type AnyMetadata } from './tuf-metadata.js';
export { nextTargets, releaseCustomOf, type NewTarget, type ReleaseCustom } from './targets-signing.js';
export { nextTargetsWithTeams, nextTeamTargets, type TeamChange } from './delegation-signing.js';
export { initTeamKey, readTeamPublicKey, readTeamSigningKey, teamPublicKeyOf, type TeamPublicKey } from './team-keys.js';
export { ReleaseRepository, RELEASE_TIMINGS, type ReleaseRepositoryOptions, type ReleaseTimings } from './release-repository.js';
