import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { FleetError, type Role } from '@gpufleet/protocol';
import type { ApiTokenRecord, Store } from '../store/store.js';
import type { Clock } from '../clock.js';

/** Who is calling: the token's id and name and what its role allows. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(have: Role, need: Role): boolean {
  return ROLE_RANK[have] >= ROLE_RANK[need];
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

const TOKEN = /^gft_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** API tokens `gft_<id>_<secret>`: only the SHA-256 of the secret is stored. */
export class ApiTokenService {
  // A short cache so a busy dashboard does not hit the store on every request.
  private readonly cache = new Map<string, { principal: Principal; hash: string; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async create(name: string, role: Role): Promise<{ token: string; record: ApiTokenRecord }> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const record: ApiTokenRecord = { id, secretHash: sha256Hex(secret), name, role, createdAt: this.clock.now(), lastUsedAt: null, revokedAt: null };
    await this.store.insertApiToken(record);
    return { token: `gft_${id}_${secret}`, record };
  }

  /** The principal behind a bearer token, or an unauthenticated FleetError saying why not. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (!token) throw new FleetError('unauthenticated', 'an API token is required: send "Authorization: Bearer gft_..."');
    const m = TOKEN.exec(token.trim());
    if (!m) throw new FleetError('unauthenticated', 'malformed API token (expected gft_<id>_<secret>)');
    const [, id, secret] = m as unknown as [string, string, string];
    const now = this.clock.now();
    const hash = sha256Hex(secret);
    const cached = this.cache.get(id);
    if (cached && cached.until > now && sameDigest(cached.hash, hash)) return cached.principal;
    const record = await this.store.getApiToken(id);
    if (!record || !sameDigest(record.secretHash, hash)) throw new FleetError('unauthenticated', 'API token not recognised');
    if (record.revokedAt !== null) throw new FleetError('unauthenticated', 'API token was revoked');
    const principal: Principal = { tokenId: id, name: record.name, role: record.role };
    this.cache.set(id, { principal, hash, until: now + 5_000 });
    if (record.lastUsedAt === null || now - record.lastUsedAt > 60_000) await this.store.touchApiToken(id, now);
    return principal;
  }

  async revoke(id: string): Promise<void> {
    this.cache.delete(id);
    if (!(await this.store.revokeApiToken(id, this.clock.now()))) throw new FleetError('not_found', `no active API token with id ${id}`);
  }
}
