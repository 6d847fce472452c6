import { gunzipSync, gzipSync } from 'node:zlib';
import { FleetError, RELEASE_VERSION } from '@gpufleet/protocol';
import { readTar, writeTar } from './ustar.js';

/**
 * The agent release artifact, `gpufleet-agent-<V>.tgz` (issue 14): a gzipped ustar holding one
 * folder, `gpufleet-agent/`, with `agent.mjs` (the whole agent bundled into one file, its
 * version baked in) and `release.json` (`{"version": V}`). One file to run with the node the
 * host has, so a slot needs no node_modules.
 */

export const AGENT_RELEASE_FOLDER = 'gpufleet-agent';
export const AGENT_ENTRY = `${AGENT_RELEASE_FOLDER}/agent.mjs`;
export const AGENT_RELEASE_JSON = `${AGENT_RELEASE_FOLDER}/release.json`;

// A bundled agent is a few MiB; this bounds what a hostile gzip can inflate to.
const MAX_UNPACKED_BYTES = 256 * 1024 ** 2;

/** The .tgz of an agent build. */
export function packAgentRelease(o: { version: string; agentMjs: Uint8Array; extra?: ReadonlyArray<{ name: string; bytes: Uint8Array }> }): Buffer {
  if (!RELEASE_VERSION.test(o.version)) throw new FleetError('invalid_argument', `'${o.version}' is not a release version (e.g. 0.3.0)`);
  const json = new Uint8Array(Buffer.from(`${JSON.stringify({ version: o.version })}\n`));
  return gzipSync(writeTar([{ name: AGENT_ENTRY, bytes: o.agentMjs }, { name: AGENT_RELEASE_JSON, bytes: json }, ...(o.extra ?? [])]), { level: 9 });
}

function notAnAgent(message: string): never {
  throw new FleetError('invalid_argument', `not an agent release: ${message}`);
}

/**
 * Reads an agent release: its files by path, all under `gpufleet-agent/` (anything else, or a
 * name that climbs out, is refused), and the version its release.json names, which must be
 * `expectedVersion` (the version TUF verified it as).
 */
export function unpackAgentRelease(tgz: Uint8Array, expectedVersion: string): Map<string, Buffer> {
  let tar: Buffer;
  try {
    tar = gunzipSync(tgz, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (err) {
    notAnAgent(`it is not gzip, or unpacks past ${MAX_UNPACKED_BYTES} bytes (${(err as Error).message})`);
  }
  const files = readTar(tar, { maxTotalBytes: MAX_UNPACKED_BYTES });
  for (const name of files.keys()) {
    if (!name.startsWith(`${AGENT_RELEASE_FOLDER}/`)) notAnAgent(`'${name.slice(0, 120)}' is outside the ${AGENT_RELEASE_FOLDER}/ folder`);
  }
  if (!files.has(AGENT_ENTRY)) notAnAgent(`it has no ${AGENT_ENTRY}`);
  const raw = files.get(AGENT_RELEASE_JSON);
  if (!raw) notAnAgent(`it has no ${AGENT_RELEASE_JSON}`);
  let version: unknown;
  try {
    version = (JSON.parse(raw.toString('utf8')) as { version?: unknown } | null)?.version;
  } catch {
    notAnAgent(`${AGENT_RELEASE_JSON} is not JSON`);
  }
  if (version !== expectedVersion) notAnAgent(`${AGENT_RELEASE_JSON} says version ${JSON.stringify(version)}, but it was signed as ${expectedVersion}`);
  return files;
}
