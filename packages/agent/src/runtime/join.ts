import { X509Certificate } from 'node:crypto';
import {
  EnrollResponse,
  ErrorBody,
  FleetError,
  LabelMap,
  decodeJoinToken,
  enrollmentMessage,
  isDidKey,
  gpuInfoOf,
  isErrorCode,
  signEd25519,
  type EnrollRequest,
  type GpuInfo,
  type JoinTokenPayload,
} from '@gpufleet/protocol';
import type { HardwareBackend } from '../hardware/backend.js';
import { FileStateStore } from './file-state.js';
import { nodeHttpRequest, type HttpRequester } from './http-request.js';
import { loadOrCreateIdentity, type AgentIdentity } from './identity.js';
import { errorText, silentLogger, type Logger } from './logger.js';
import type { AgentStateStore } from './state.js';

export interface JoinOptions {
  /** The join token string (`gfj1.…`). */
  token: string;
  /** Where the key and state live (a real host). Either this or state + identity. */
  dataDir?: string;
  /** State store (the simulator: in memory). Needs `identity` too. */
  state?: AgentStateStore;
  identity?: AgentIdentity;
  backend: HardwareBackend;
  agentVersion: string;
  /** Labels this host asks for (`--label k=v`); sent only when there are some. */
  labels?: Record<string, string>;
  /**
   * The fleet roots the person joining names (`--root DID`, repeatable). When given, the host
   * trusts exactly these, and refuses to join when the token names any other set: the human,
   * not the server that made the token, decides whom the host obeys.
   */
  roots?: readonly string[];
  /** HTTP client; default node:http(s). */
  request?: HttpRequester;
  logger?: Logger;
}

export interface JoinResult {
  nodeId: string;
  status: string;
  heartbeatMs: number;
  serverUrl: string;
  /** Every replica URL the agent will fail over between, `serverUrl` first. */
  serverUrls: string[];
  /** True when this join made a new node key. */
  keyCreated: boolean;
  /** The fleet roots this host now trusts. */
  roots: string[];
  /** Whether they were pinned with `--root` (false: taken from the token as it came). */
  rootsPinned: boolean;
  /** The labels this host vouches for from its join: its own `--label`s under the token's. */
  labels: Record<string, string>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** `{url}` + `/path`, keeping any path prefix the server URL has. */
export function serverEndpoint(serverUrl: string, path: string): string {
  return serverUrl.replace(/\/+$/, '') + path;
}

/** SHA-256 of a certificate's DER, lower-case hex without colons (the join token's form). */
export function certificateFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/**
 * Fetches the server's CA without verification and accepts it only when its fingerprint is the
 * one in the join token; returns the PEM of exactly that certificate (anything else the server
 * sent along is not trusted).
 */
export async function fetchPinnedCa(payload: JoinTokenPayload, request: HttpRequester = nodeHttpRequest): Promise<string> {
  const res = await request({ method: 'GET', url: serverEndpoint(payload.url, '/v1/ca.pem'), insecure: true, headers: { accept: 'application/x-pem-file' } });
  if (res.status !== 200) throw new FleetError('unavailable', `the server did not hand out its CA (GET /v1/ca.pem answered HTTP ${res.status})`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(res.text);
  } catch {
    throw new FleetError('unavailable', "the server's /v1/ca.pem is not a PEM certificate");
  }
  const fingerprint = cert.fingerprint256.replace(/:/g, '').toLowerCase();
  if (fingerprint !== payload.caFingerprint) {
    throw new FleetError(
      'permission_denied',
      `the server's CA does not match the fingerprint in the join token (got ${fingerprint}, token says ${payload.caFingerprint})`,
    );
  }
  return cert.toString();
}

/**
 * Checks the URL/fingerprint pairing rules of a token before any network traffic, for every
 * replica URL it names: the agent may end up dialing any of them.
 */
export function checkTokenTransport(payload: JoinTokenPayload): void {
  for (const text of payload.urls ?? [payload.url]) {
    const url = new URL(text);
    if (payload.caFingerprint === null) {
      if (url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname)) {
        throw new FleetError(
          'invalid_argument',
          `join token has no CA fingerprint, which is only allowed for a plain-http loopback server, but its URL is ${text}`,
        );
      }
    } else if (url.protocol !== 'https:') {
      throw new FleetError('invalid_argument', `join token pins a CA but its URL is not https: ${text}`);
    }
  }
}

/**
 * Joins this host to a fleet: makes (or reuses) the node key, pins the server's CA, sends the
 * key and inventory with the token's secret, and saves what `run` needs. Throws FleetError with
 * the server's own message on refusal (e.g. "join token expired").
 */
export async function joinFleet(options: JoinOptions): Promise<JoinResult> {
  const logger = options.logger ?? silentLogger;
  const request = options.request ?? nodeHttpRequest;
  const payload = decodeJoinToken(options.token);
  checkTokenTransport(payload);
  const labels = options.labels ?? {};
  const labelCheck = LabelMap.safeParse(labels);
  if (!labelCheck.success) throw new FleetError('invalid_argument', `bad label: ${labelCheck.error.issues[0]?.message ?? 'invalid'}`);
  const roots = checkPinnedRoots(payload.roots, options.roots);
  // The server gives the token's labels precedence over the host's own (enrollment); so does the host.
  const vouchedLabels = { ...labels, ...(payload.labels ?? {}) };

  let state: AgentStateStore;
  let identity: AgentIdentity;
  let keyCreated = false;
  if (options.dataDir !== undefined) {
    const loaded = loadOrCreateIdentity(options.dataDir);
    identity = { did: loaded.did, privateKeyPem: loaded.privateKeyPem };
    keyCreated = loaded.created;
    state = options.state ?? new FileStateStore(options.dataDir);
  } else if (options.state && options.identity) {
    state = options.state;
    identity = options.identity;
  } else {
    throw new FleetError('invalid_argument', 'joinFleet needs a dataDir, or a state store and an identity');
  }

  let host;
  try {
    host = { ...(await options.backend.hostFacts()), agentVersion: options.agentVersion };
  } catch (err) {
    throw new FleetError('tool_failure', `could not read this host's facts for the join: ${errorText(err)}`, { cause: err });
  }
  let gpus: GpuInfo[] = [];
  try {
    const readout = await options.backend.gpus();
    gpus = readout.snapshots.slice(0, 64).map(gpuInfoOf);
  } catch (err) {
    // Joining without GPUs is still useful (the agent reports them once the tools work).
    logger.warn('could not read the GPUs for the join inventory', { err: errorText(err) });
  }
  const body: EnrollRequest & { labels?: Record<string, string> } = {
    tokenId: payload.tokenId,
    secret: payload.secret,
    nodeId: identity.did,
    signature: signEd25519(identity.privateKeyPem, enrollmentMessage(payload.tokenId, identity.did)),
    host,
    gpus,
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
  };
  // Each replica in turn until one answers: a replica that is down must not stop a join. A
  // refusal is final (replicas share one store: another would refuse too); a CA that does not
  // match the token is too (it is an impostor, not an outage).
  let caPem: string | null = null;
  let res: Awaited<ReturnType<HttpRequester>> | null = null;
  const urls = payload.urls ?? [payload.url];
  const failures: FleetError[] = [];
  for (const url of urls) {
    try {
      caPem = payload.caFingerprint === null ? null : await fetchPinnedCa({ ...payload, url }, request);
      res = await request({ method: 'POST', url: serverEndpoint(url, '/api/v1/enroll'), body: JSON.stringify(body), ...(caPem ? { ca: caPem } : {}) });
    } catch (err) {
      if (err instanceof FleetError && err.code === 'permission_denied') throw err;
      failures.push(err instanceof FleetError ? err : new FleetError('unavailable', `${url}: ${errorText(err)}`));
      continue;
    }
    if (res.status >= 500) {
      failures.push(refusal(res.status, res.text));
      res = null;
      continue;
    }
    break;
  }
  if (res === null) {
    // One server: its own error says it best. Several: each replica's, in the order tried.
    if (failures.length === 1) throw failures[0]!;
    throw new FleetError('unavailable', `no control-plane replica answered the join: ${failures.map((f, i) => `${urls[i]}: ${f.message}`).join('; ')}`);
  }
  if (res.status !== 200 && res.status !== 201) throw refusal(res.status, res.text);
  let answer: { nodeId: string; status: string; heartbeatMs: number };
  try {
    answer = EnrollResponse.parse(JSON.parse(res.text));
  } catch {
    throw new FleetError('unavailable', 'the server accepted the join but its answer is not an enrollment response');
  }
  if (answer.nodeId !== identity.did)
    throw new FleetError('internal', `the server enrolled another node id (${answer.nodeId}) than this host's key (${identity.did})`);
  const serverUrls = payload.urls ?? [payload.url];
  state.saveConfig({
    nodeId: answer.nodeId,
    serverUrl: payload.url,
    // Kept only for a real list, so a single-server node.json reads exactly as before.
    ...(serverUrls.length > 1 ? { serverUrls } : {}),
    caPem,
    roots,
    heartbeatMs: answer.heartbeatMs > 0 ? answer.heartbeatMs : 5000,
    labels: vouchedLabels,
  });
  logger.info('joined the fleet', { nodeId: answer.nodeId, status: answer.status, server: payload.url, ...(serverUrls.length > 1 ? { serverUrls } : {}) });
  return {
    nodeId: answer.nodeId,
    status: answer.status,
    heartbeatMs: answer.heartbeatMs,
    serverUrl: payload.url,
    serverUrls,
    keyCreated,
    roots,
    rootsPinned: options.roots !== undefined && options.roots.length > 0,
    labels: vouchedLabels,
  };
}

/**
 * The roots this host will trust: the token's, unless the human pinned some with `--root`, in
 * which case the token must name exactly those (as a set) or the join is refused before any
 * traffic, naming both sets. Throws FleetError('invalid_argument' / 'permission_denied').
 */
export function checkPinnedRoots(tokenRoots: readonly string[], pinned: readonly string[] | undefined): string[] {
  const fromToken = [...new Set(tokenRoots)];
  if (pinned === undefined || pinned.length === 0) return fromToken;
  const bad = pinned.find((d) => !isDidKey(d));
  if (bad !== undefined) throw new FleetError('invalid_argument', `--root '${bad.slice(0, 80)}' is not an Ed25519 did:key (did:key:z6Mk…)`);
  const want = [...new Set(pinned)];
  const same = want.length === fromToken.length && want.every((d) => fromToken.includes(d));
  if (!same) {
    const list = (ds: readonly string[]) => (ds.length === 0 ? '(none)' : ds.join(', '));
    throw new FleetError(
      'permission_denied',
      `refusing to join: the join token names the fleet roots ${list(fromToken)}, but --root pins ${list(want)}. A server that hands out other roots than the ones you named may not be the fleet you meant; ask its admin for the current roots (gpufleet roots show)`,
    );
  }
  return want;
}

/** The server's `{error:{code,message}}` as a FleetError with its message verbatim. */
function refusal(status: number, text: string): FleetError {
  try {
    const parsed = ErrorBody.safeParse(JSON.parse(text));
    if (parsed.success) return new FleetError(parsed.data.error.code, parsed.data.error.message);
    const loose = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (loose && typeof loose.message === 'string') return new FleetError(isErrorCode(loose.code) ? loose.code : 'unavailable', loose.message);
  } catch {
    // Not JSON: a proxy's error page or similar; show its start below.
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new FleetError(status >= 500 ? 'unavailable' : 'invalid_argument', `the server refused the join with HTTP ${status}${snippet ? `: ${snippet}` : ''}`);
}
