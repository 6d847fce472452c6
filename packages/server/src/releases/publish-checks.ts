import { createHash } from 'node:crypto';
import type { Metadata, Targets } from '@tufjs/models';
import {
  AGENT_RELEASE_NAME,
  BUNDLE_NAME,
  FleetError,
  RELEASE_KINDS,
  RELEASE_VERSION,
  releaseTargetPath,
  TARGET_PATH,
  type PublishReleaseRequest,
} from '@gpufleet/protocol';
import { releaseCustomOf, type ReleaseCustom } from './targets-signing.js';

/** One target of a targets metadata, as the repository needs it. */
export interface TargetEntry {
  path: string;
  sha256: string;
  length: number;
  custom: ReleaseCustom;
}

const SHA256 = /^[0-9a-f]{64}$/;
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function bad(message: string): never {
  throw new FleetError('invalid_argument', message);
}

/**
 * The rules a targets metadata must follow here, beyond its signature: safe paths, exactly one
 * hash (SHA-256: clients fetch `<sha256>.<name>`, and the server keeps bytes by it), and a
 * `custom` that says which release it is (agent or bundle), at the path of that release, each
 * release once. Delegations are checked apart (delegation-checks.ts).
 */
export function targetEntries(md: Metadata<Targets>, what = `targets version ${md.signed.version}`): TargetEntry[] {
  const entries: TargetEntry[] = [];
  const releases = new Set<string>();
  for (const [path, file] of Object.entries(md.signed.targets)) {
    if (!TARGET_PATH.test(path)) bad(`${what}: target path '${path.slice(0, 80)}' must be relative, with segments of letters, digits and . _ + -`);
    const algs = Object.keys(file.hashes);
    if (algs.length !== 1 || algs[0] !== 'sha256' || !SHA256.test(file.hashes.sha256 ?? ''))
      bad(`${what}: target ${path} must have exactly one hash, sha256 in lowercase hex`);
    if (!Number.isSafeInteger(file.length) || file.length < 0) bad(`${what}: target ${path} has length ${file.length}`);
    const custom = releaseCustomOf(file.custom);
    if (!custom || !(RELEASE_KINDS as readonly string[]).includes(custom.kind))
      bad(`${what}: target ${path} needs custom.kind (${RELEASE_KINDS.join(' or ')}) and custom.version`);
    if (!RELEASE_VERSION.test(custom.version)) bad(`${what}: target ${path} has version '${custom.version.slice(0, 70)}'; use letters, digits and . + _ -`);
    if (!NAME.test(custom.name)) bad(`${what}: target ${path} has name '${custom.name.slice(0, 70)}'; use lowercase letters, digits and . _ -`);
    checkReleasePath(what, path, custom);
    const release = `${custom.kind} ${custom.name} ${custom.version}`;
    if (releases.has(release)) bad(`${what} lists ${release} twice`);
    releases.add(release);
    entries.push({ path, sha256: file.hashes.sha256!, length: file.length, custom });
  }
  return entries;
}

/**
 * A release lives where hosts look for it: an agent build, named gpufleet-agent, at
 * agent/gpufleet-agent-V.tgz; a bundle, named as bundle names are, at bundles/N/N-V.tar. So a
 * target cannot claim to be one release while sitting at another's path.
 */
function checkReleasePath(what: string, path: string, custom: ReleaseCustom): void {
  if (custom.kind === 'agent' && custom.name !== AGENT_RELEASE_NAME)
    bad(`${what}: target ${path} is an agent release, so its name must be ${AGENT_RELEASE_NAME}`);
  if (custom.kind === 'bundle' && !BUNDLE_NAME.test(custom.name))
    bad(`${what}: target ${path} is a bundle named '${custom.name.slice(0, 70)}'; a bundle name is lowercase letters, digits and -, starting with a letter`);
  const expected = releaseTargetPath(custom);
  if (path !== expected) bad(`${what}: target ${path} says it is ${custom.kind} ${custom.name} ${custom.version}, which lives at ${expected}`);
}

/** An uploaded file, decoded, with its hash. */
export interface UploadedFile {
  path: string;
  sha256: string;
  bytes: Buffer;
}

/** Decodes the uploaded files; each must be a target of `entries` with exactly its length and hash. */
export function checkUploads(files: PublishReleaseRequest['files'], entries: ReadonlyArray<TargetEntry>): UploadedFile[] {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const seen = new Set<string>();
  return files.map((f, i) => {
    if (seen.has(f.path)) bad(`files[${i}]: ${f.path} is uploaded twice`);
    seen.add(f.path);
    const entry = byPath.get(f.path);
    if (!entry) bad(`files[${i}]: ${f.path} is not a target of the targets metadata`);
    // Buffer.from silently skips what is not base64, so the text is checked first.
    if (f.data.length % 4 !== 0 || !BASE64.test(f.data)) bad(`files[${i}]: the data of ${f.path} is not base64`);
    const bytes = Buffer.from(f.data, 'base64');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (bytes.length !== entry.length || sha256 !== entry.sha256) {
      bad(
        `files[${i}]: ${f.path} is ${bytes.length} bytes with SHA-256 ${sha256.slice(0, 16)}…, but the signed targets say ${entry.length} bytes, ${entry.sha256.slice(0, 16)}…`,
      );
    }
    return { path: f.path, sha256, bytes };
  });
}

/**
 * A published release never changes: a path of the current targets that the next one keeps must
 * keep its hash and length. (Dropping one, a yanked release, is the targets key's call.)
 */
export function checkImmutable(current: ReadonlyArray<TargetEntry>, next: ReadonlyArray<TargetEntry>): void {
  const before = new Map(current.map((e) => [e.path, e]));
  for (const e of next) {
    const old = before.get(e.path);
    if (old && (old.sha256 !== e.sha256 || old.length !== e.length)) {
      throw new FleetError('already_exists', `${e.path} is published already with other bytes: a release never changes, publish a new version instead`);
    }
  }
}
