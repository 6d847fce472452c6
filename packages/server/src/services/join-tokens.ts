import { randomBytes } from 'node:crypto';
import { FleetError, encodeJoinToken, parseDurationMs, CreateJoinTokenRequest, type JoinTokenView } from '@gpufleet/protocol';
import type { JoinTokenRecord, Store } from '../store/store.js';
import type { Clock } from '../clock.js';
import { sameDigest, sha256Hex } from '../auth/api-tokens.js';

export interface JoinTokenServiceOptions {
  store: Store;
  clock: Clock;
  /** The URL agents dial, and the CA they must pin (null for plain HTTP on loopback). */
  serverUrl: () => string;
  caFingerprint: string | null;
  roots: () => string[];
}

/** Why a join token cannot be used, each with its own message. */
export type TokenRefusal = 'unknown' | 'tampered' | 'revoked' | 'expired' | 'used';

export class JoinTokenService {
  constructor(private readonly opts: JoinTokenServiceOptions) {}

  async create(input: CreateJoinTokenRequest, createdBy: string): Promise<{ token: string; view: JoinTokenView }> {
    // Checked here, not only by the REST schema: hosts vouch for a token's labels, so no caller
    // (the CLI's local server, the demo, the simulator) may mint a token a host would refuse.
    const parsed = CreateJoinTokenRequest.safeParse(input);
    if (!parsed.success) {
      throw new FleetError(
        'invalid_argument',
        `join token request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
      );
    }
    const req = parsed.data;
    if (req.serverUrls) this.checkTransport(req.serverUrls);
    const urls = req.serverUrls ?? [this.opts.serverUrl()];
    const now = this.opts.clock.now();
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const record: JoinTokenRecord = {
      id,
      secretHash: sha256Hex(secret),
      description: req.description ?? '',
      labels: req.labels ?? {},
      reusable: req.reusable ?? false,
      needsApproval: req.needsApproval ?? false,
      createdAt: now,
      expiresAt: req.expiresIn ? now + parseDurationMs(req.expiresIn) : null,
      revokedAt: null,
      uses: 0,
      createdBy,
    };
    await this.opts.store.insertJoinToken(record);
    const token = encodeJoinToken({
      url: urls[0]!,
      urls,
      caFingerprint: this.opts.caFingerprint,
      roots: this.opts.roots(),
      tokenId: id,
      secret,
      labels: record.labels,
    });
    return { token, view: this.view(record) };
  }

  /**
   * Hosts pin this server's CA and accept https only with it (plain http only without one), so a
   * list that breaks that rule would mint a token no host can join with.
   */
  private checkTransport(urls: readonly string[]): void {
    const want = this.opts.caFingerprint === null ? 'http:' : 'https:';
    const bad = urls.find((u) => new URL(u).protocol !== want);
    if (bad !== undefined) {
      throw new FleetError(
        'invalid_argument',
        `join token request: serverUrls: '${bad}' is not ${want.slice(0, -1)}, but this server ${this.opts.caFingerprint === null ? 'has no CA (plain http)' : 'pins a CA (https only)'}`,
      );
    }
  }

  async list(): Promise<JoinTokenView[]> {
    return (await this.opts.store.listJoinTokens()).map((t) => this.view(t));
  }

  async revoke(id: string): Promise<void> {
    if (!(await this.opts.store.revokeJoinToken(id, this.opts.clock.now()))) throw new FleetError('not_found', `no active join token with id ${id}`);
  }

  /** Checks a presented token; throws a FleetError whose message says exactly why it is refused. */
  async check(tokenId: string, secret: string): Promise<JoinTokenRecord> {
    const record = await this.opts.store.getJoinToken(tokenId);
    if (!record) throw refusal('unknown');
    if (!sameDigest(record.secretHash, sha256Hex(secret))) throw refusal('tampered');
    if (record.revokedAt !== null) throw refusal('revoked');
    if (record.expiresAt !== null && record.expiresAt <= this.opts.clock.now()) throw refusal('expired', new Date(record.expiresAt));
    if (!record.reusable && record.uses > 0) throw refusal('used');
    return record;
  }

  /** Counts one use atomically; a single-use token raced by two hosts lets exactly one in. */
  async consume(record: JoinTokenRecord): Promise<void> {
    if (!(await this.opts.store.consumeJoinToken(record.id))) throw refusal('used');
  }

  view(t: JoinTokenRecord): JoinTokenView {
    const now = this.opts.clock.now();
    const state = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= now ? 'expired' : !t.reusable && t.uses > 0 ? 'used' : 'active';
    return {
      id: t.id,
      description: t.description,
      labels: t.labels,
      reusable: t.reusable,
      needsApproval: t.needsApproval,
      createdAt: new Date(t.createdAt).toISOString(),
      expiresAt: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
      revokedAt: t.revokedAt === null ? null : new Date(t.revokedAt).toISOString(),
      uses: t.uses,
      state,
    };
  }
}

function refusal(why: TokenRefusal, at?: Date): FleetError {
  switch (why) {
    case 'unknown':
      return new FleetError('unauthenticated', 'join token not recognised by this server', { details: { reason: why } });
    case 'tampered':
      return new FleetError('unauthenticated', 'join token secret does not match: the token was altered or mistyped', { details: { reason: why } });
    case 'revoked':
      return new FleetError('permission_denied', 'join token was revoked', { details: { reason: why } });
    case 'expired':
      return new FleetError('permission_denied', `join token expired at ${at?.toISOString()}`, { details: { reason: why } });
    case 'used':
      return new FleetError('permission_denied', 'join token was single-use and has already been used', { details: { reason: why } });
  }
}
