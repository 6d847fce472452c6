import { FleetError } from './errors.js';
import { isLabelKey, isLabelValue } from './selector.js';
import { serverUrlListProblem } from './server-urls.js';

/**
 * A join token string carries everything a new host needs: the server URL, the SHA-256
 * fingerprint of the server's CA (null on a plain-HTTP loopback server), the fleet's root
 * operator DIDs, the token's id and secret, the token's labels (`l`, absent in tokens made
 * before labels travelled in the string) and, for a control plane with several replicas, every
 * replica's URL (`us`, written only when there is more than one). Format: `gfj1.<base64url JSON>`.
 */
export interface JoinTokenPayload {
  url: string;
  caFingerprint: string | null;
  roots: string[];
  tokenId: string;
  secret: string;
  /**
   * The labels every node joining with this token gets. They are in the string the human copies
   * to the host, so the host vouches for them as labels it asked for at join. Absent: none.
   */
  labels?: Record<string, string>;
  /**
   * Every server URL the agent may dial (replicas of one control plane), `url` first. Absent:
   * just `url` (every token made before replicas, and single-server fleets).
   */
  urls?: string[];
}

const PREFIX = 'gfj1.';

export function encodeJoinToken(p: JoinTokenPayload): string {
  const labels = p.labels ?? {};
  // Checked here too, so no caller can mint a token every host would refuse at decode.
  if (p.urls !== undefined) checkUrlList(p.url, p.urls, 'join token');
  const urls = p.urls ?? [p.url];
  const json = JSON.stringify({
    u: p.url,
    f: p.caFingerprint,
    r: p.roots,
    i: p.tokenId,
    s: p.secret,
    ...(Object.keys(labels).length > 0 ? { l: labels } : {}),
    ...(urls.length > 1 ? { us: urls } : {}),
  });
  return PREFIX + Buffer.from(json).toString('base64url');
}

export function decodeJoinToken(token: string): JoinTokenPayload {
  const text = token.trim();
  if (!text.startsWith(PREFIX)) throw new FleetError('invalid_argument', 'not a gpufleet join token (expected it to start with "gfj1.")');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(text.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new FleetError('invalid_argument', 'join token is damaged: its payload is not valid base64url JSON');
  }
  const o = raw as Record<string, unknown>;
  const ok =
    o !== null &&
    typeof o === 'object' &&
    typeof o.u === 'string' &&
    (o.f === null || (typeof o.f === 'string' && /^[0-9a-f]{64}$/.test(o.f))) &&
    Array.isArray(o.r) &&
    o.r.every((r) => typeof r === 'string') &&
    typeof o.i === 'string' &&
    typeof o.s === 'string' &&
    (o.l === undefined || isLabelObject(o.l));
  if (!ok) throw new FleetError('invalid_argument', 'join token is damaged: a field is missing or has the wrong type');
  let url: URL;
  try {
    url = new URL(o.u as string);
  } catch {
    throw new FleetError('invalid_argument', 'join token is damaged: its server URL is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FleetError('invalid_argument', 'join token server URL must be http or https');
  if (o.us !== undefined) checkUrlList(o.u as string, o.us, 'join token is damaged');
  return {
    url: o.u as string,
    caFingerprint: o.f as string | null,
    roots: o.r as string[],
    tokenId: o.i as string,
    secret: o.s as string,
    ...(o.l === undefined ? {} : { labels: { ...(o.l as Record<string, string>) } }),
    ...(o.us === undefined ? {} : { urls: [...(o.us as string[])] }),
  };
}

/** A token's URL list must be usable and start with its main URL (older agents dial only that one). */
function checkUrlList(url: string, urls: unknown, what: string): void {
  const problem = serverUrlListProblem(urls);
  if (problem) throw new FleetError('invalid_argument', `${what}: ${problem}`);
  if ((urls as string[])[0] !== url) throw new FleetError('invalid_argument', `${what}: its server URL list must start with its server URL (${url})`);
}

function isLabelObject(value: unknown): value is Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return entries.length <= 64 && entries.every(([k, v]) => isLabelKey(k) && typeof v === 'string' && isLabelValue(v));
}
