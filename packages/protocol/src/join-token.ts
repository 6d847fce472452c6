import { FleetError } from './errors.js';
import { isLabelKey, isLabelValue } from './selector.js';

/**
 * A join token string carries everything a new host needs: the server URL, the SHA-256
 * fingerprint of the server's CA (null on a plain-HTTP loopback server), the fleet's root
 * operator DIDs, the token's id and secret, and the token's labels (`l`, absent in tokens made
 * before labels travelled in the string). Format: `gfj1.<base64url JSON>`.
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
}

const PREFIX = 'gfj1.';

export function encodeJoinToken(p: JoinTokenPayload): string {
  const labels = p.labels ?? {};
  const json = JSON.stringify({
    u: p.url,
    f: p.caFingerprint,
    r: p.roots,
    i: p.tokenId,
    s: p.secret,
    ...(Object.keys(labels).length > 0 ? { l: labels } : {}),
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
  return {
    url: o.u as string,
    caFingerprint: o.f as string | null,
    roots: o.r as string[],
    tokenId: o.i as string,
    secret: o.s as string,
    ...(o.l === undefined ? {} : { labels: { ...(o.l as Record<string, string>) } }),
  };
}

function isLabelObject(value: unknown): value is Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return entries.length <= 64 && entries.every(([k, v]) => isLabelKey(k) && typeof v === 'string' && isLabelValue(v));
}
