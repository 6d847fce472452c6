import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { AGENT_RELEASE_NAME, releaseRefText, type ReleaseList, type ReleaseRef } from '@gpufleet/protocol';
import { writeBundle } from '@gpufleet/agent';
import type { ApiClient } from '../api-client.js';
import { CliError } from '../errors.js';

/** A metadata file's text from the server's TUF repository. */
async function metadata(client: ApiClient, name: string): Promise<string> {
  return (await client.getBytes(`/tuf/metadata/${name}`)).toString('utf8');
}

/** The parts of `signed` an export reads; the host verifies all of it with TUF. */
interface SignedParts {
  expires?: string;
  meta?: Record<string, { version?: number }>;
  targets?: Record<string, { length: number; hashes: { sha256?: string }; custom?: Record<string, unknown> }>;
}

function signedOf(text: string, name: string): SignedParts {
  try {
    const signed = (JSON.parse(text) as { signed?: unknown }).signed;
    if (signed && typeof signed === 'object') return signed as SignedParts;
  } catch {
    // Said below.
  }
  throw new CliError(`the server's ${name} is not TUF metadata`);
}

/**
 * Gathers what a host needs to verify one release offline, as the server serves it (every root
 * version, the timestamp, the snapshot and targets it names, the metadata of the team that signed
 * it when a team did, the target's bytes), checks the target's bytes against its signed hash, and
 * writes the bundle. The host verifies all of it again with TUF; this check only stops a broken
 * download from being carried to a site.
 */
export async function exportRelease(client: ApiClient, ref: ReleaseRef, out: string): Promise<{ bytes: number; targetPath: string; timestampExpires: string }> {
  const { repository, items } = await client.get<ReleaseList>('/api/v1/releases');
  if (repository.timestampVersion === 0) throw new CliError('nothing is published on this server yet');
  const roots = [];
  for (let v = 1; v <= repository.rootVersion; v++) roots.push({ version: v, text: await metadata(client, `${v}.root.json`) });
  const timestamp = await metadata(client, 'timestamp.json');
  const snapshotVersion = Number(signedOf(timestamp, 'timestamp.json').meta?.['snapshot.json']?.version);
  const snapshotText = await metadata(client, `${snapshotVersion}.snapshot.json`);
  const snapshotMeta = signedOf(snapshotText, 'snapshot').meta ?? {};
  const targetsVersion = Number(snapshotMeta['targets.json']?.version);
  const targetsText = await metadata(client, `${targetsVersion}.targets.json`);
  // Which role signed it: the top-level targets, or a team whose metadata the host must follow too.
  const listed = items.find((i) => i.kind === ref.kind && i.name === ref.name && i.version === ref.version);
  const signedBy = listed?.signedBy ?? 'targets';
  let delegated: { role: string; version: number; text: string } | null = null;
  if (signedBy !== 'targets') {
    const version = Number(snapshotMeta[`${signedBy}.json`]?.version);
    delegated = { role: signedBy, version, text: await metadata(client, `${version}.${signedBy}.json`) };
  }
  const targets = (signedOf(delegated?.text ?? targetsText, delegated ? signedBy : 'targets').targets ?? {}) as Record<
    string,
    { length: number; hashes: { sha256?: string }; custom?: Record<string, unknown> }
  >;
  // Agent targets published before bundles carry no name: gpufleet-agent is meant.
  const nameOf = (t: { custom?: Record<string, unknown> }) => t.custom?.name ?? (t.custom?.kind === 'agent' ? AGENT_RELEASE_NAME : undefined);
  const found = Object.entries(targets).find(([, t]) => t.custom?.kind === ref.kind && t.custom?.version === ref.version && nameOf(t) === ref.name);
  if (!found) throw new CliError(`${releaseRefText(ref)} is not published on this server (see \`gpufleet releases ls\`)`);
  const [path, info] = found;
  const sha256 = info.hashes.sha256 ?? '';
  const slash = path.lastIndexOf('/');
  const bytes = await client.getBytes(`/tuf/targets/${path.slice(0, slash + 1)}${sha256}.${path.slice(slash + 1)}`);
  if (bytes.length !== info.length || createHash('sha256').update(bytes).digest('hex') !== sha256) {
    throw new CliError(`the server sent ${path} with other bytes than its signed targets say: not exported`);
  }
  const tar = writeBundle({
    kind: ref.kind,
    ...(ref.kind === 'bundle' ? { name: ref.name } : {}),
    version: ref.version,
    roots,
    timestamp,
    snapshot: { version: snapshotVersion, text: snapshotText },
    targets: { version: targetsVersion, text: targetsText },
    ...(delegated ? { delegated: [delegated] } : {}),
    target: { path, sha256, bytes },
  });
  try {
    writeFileSync(out, tar);
  } catch (err) {
    throw new CliError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { bytes: tar.length, targetPath: path, timestampExpires: String(signedOf(timestamp, 'timestamp.json').expires) };
}
