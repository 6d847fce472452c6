import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Where simulated hosts fetch release files: the control plane's TUF repository. */
export interface TufSource {
  /** The server's base URL (http or https). */
  url: string;
  /** The CA to trust for https (the server's own CA). */
  caPem?: string | null;
}

function get(source: TufSource, path: string): Promise<Buffer> {
  const url = new URL(path, source.url.endsWith('/') ? source.url : `${source.url}/`);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', ...(url.protocol === 'https:' && source.caPem ? { ca: source.caPem } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${url.pathname} answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The parts of TUF metadata the download walks (not verified: the simulator does not check). */
interface Meta {
  signed: {
    meta: Record<string, { version: number }>;
    targets: Record<string, { hashes: { sha256: string } }>;
    delegations?: { roles?: Array<{ name: string; paths?: string[]; terminating?: boolean }> };
  };
}

function json(bytes: Buffer): Meta {
  return JSON.parse(bytes.toString('utf8')) as Meta;
}

/** TUF's path pattern rule (as tuf-js applies it): as many segments as the pattern, each matching its glob. */
export function pathMatches(pattern: string, path: string): boolean {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return false;
  return want.every((glob, i) => {
    const re = glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '.');
    return new RegExp(`^${re}$`).test(got[i]!);
  });
}

/**
 * Fetches what a real host fetches for one target, in the same order (timestamp, snapshot,
 * targets, the metadata of the team it is delegated to when the top-level targets do not list
 * it, then the target by its consistent-snapshot name) and returns the bytes read. Nothing is
 * verified: the simulator stands in for the transfer, not for tuf-js.
 */
export async function downloadTarget(source: TufSource, targetPath: string): Promise<number> {
  let bytes = 0;
  const take = async (path: string) => {
    const b = await get(source, path);
    bytes += b.length;
    return b;
  };
  const timestamp = json(await take('tuf/metadata/timestamp.json'));
  const snapshotVersion = timestamp.signed.meta['snapshot.json']?.version;
  const snapshot = json(await take(`tuf/metadata/${snapshotVersion}.snapshot.json`));
  const targetsVersion = snapshot.signed.meta['targets.json']?.version;
  const targets = json(await take(`tuf/metadata/${targetsVersion}.targets.json`));
  let entry = targets.signed.targets[targetPath];
  // One level of delegation, as the repository serves it (teams delegate no further).
  for (const role of targets.signed.delegations?.roles ?? []) {
    if (entry) break;
    if (!(role.paths ?? []).some((p) => pathMatches(p, targetPath))) continue;
    const version = snapshot.signed.meta[`${role.name}.json`]?.version;
    if (version !== undefined) entry = json(await take(`tuf/metadata/${version}.${encodeURIComponent(role.name)}.json`)).signed.targets[targetPath];
    if (role.terminating) break;
  }
  if (!entry) throw new Error(`${targetPath} is not in targets version ${targetsVersion} nor in a role it delegates to`);
  const slash = targetPath.lastIndexOf('/');
  const hashed = `${targetPath.slice(0, slash + 1)}${entry.hashes.sha256}.${targetPath.slice(slash + 1)}`;
  await take(`tuf/targets/${hashed}`);
  return bytes;
}
