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
  signed: { meta: Record<string, { version: number }>; targets: Record<string, { hashes: { sha256: string } }> };
}

function json(bytes: Buffer): Meta {
  return JSON.parse(bytes.toString('utf8')) as Meta;
}

/**
 * Fetches what a real host fetches for one target, in the same order (timestamp, snapshot,
 * targets, then the target by its consistent-snapshot name) and returns the bytes read. Nothing
 * is verified: the simulator stands in for the transfer, not for tuf-js.
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
  const entry = targets.signed.targets[targetPath];
  if (!entry) throw new Error(`${targetPath} is not in targets version ${targetsVersion}`);
  const slash = targetPath.lastIndexOf('/');
  const hashed = `${targetPath.slice(0, slash + 1)}${entry.hashes.sha256}.${targetPath.slice(slash + 1)}`;
  await take(`tuf/targets/${hashed}`);
  return bytes;
}
