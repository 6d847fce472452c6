import { EventHub, type HubEvent } from '../../events/event-hub.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEd25519, signCapability, type Ability, type Capability, type Ed25519KeyPair } from '@gpufleet/protocol';
import { resolveServerConfig } from '../../config/server-config.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { ApiTokenService } from '../../auth/api-tokens.js';
import { AuditLog } from '../../services/audit-log.js';
import { buildApp, type App } from '../../http/app.js';
import { ScriptLibrary } from '../../scripts/script-library.js';
import { registerTrustRoutes } from '../../routes/trust-routes.js';
import { registerScriptRoutes } from '../../routes/script-routes.js';
import { registerAuditVerifyRoutes } from '../../routes/audit-verify-routes.js';
import { AuditCheckpointer } from '../../audit/audit-checkpointer.js';
import { createTrust, type Trust } from '../index.js';
import { masterKeysFrom } from '../master-keys.js';

/** A clock that ticks 1 ms per reading, so records made one after another sort in that order. */
export class KitClock {
  constructor(public t = Date.UTC(2025, 5, 1)) {}
  now(): number {
    return ++this.t;
  }
}

export const HOUR = 3_600_000;

/** A real app (auth, validation, error mapping, audit hook) over a real SQLite store with the trust and script routes. */
export interface TrustKit {
  dataDir: string;
  store: Store;
  clock: KitClock;
  app: App;
  trust: Trust;
  scripts: ScriptLibrary;
  audit: AuditLog;
  checkpointer: AuditCheckpointer;
  admin: string;
  operator: string;
  viewer: string;
  warnings: string[];
  /** What the trust services announced on the hub (`trust` events: other replicas read trust again on them). */
  hubEvents: HubEvent[];
  call(method: string, url: string, token: string | null, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startTrustKit(opts: { masterKey?: string; dataDir?: string } = {}): Promise<TrustKit> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'trust-kit-'));
  const clock = new KitClock();
  const store = await openStore({ database: null, dataDir });
  await store.migrate();
  const apiTokens = new ApiTokenService(store, clock);
  const audit = new AuditLog(store, clock);
  const warnings: string[] = [];
  const log = {
    warn: (_o: object, msg: string) => void warnings.push(msg),
    info: () => undefined,
    error: (_o: object, msg: string) => void warnings.push(msg),
  };
  const hub = new EventHub();
  const hubEvents: HubEvent[] = [];
  hub.subscribe((e) => void hubEvents.push(e));
  const trust = await createTrust({ store, clock, hub, dataDir, keys: masterKeysFrom({}, opts.masterKey ?? ''), log });
  const checkpointer = new AuditCheckpointer({ store, clock, signer: trust.identity.signer(), log, delayMs: 5 });
  await checkpointer.start();
  audit.onAppended(() => checkpointer.notify());
  const scripts = new ScriptLibrary({ store, clock, authorityOf: (did, ability) => trust.capabilities.authorityOf(did, ability) });
  const config = resolveServerConfig({ flags: { dataDir, logLevel: 'silent' } });
  const app = await buildApp({ config, store, clock, apiTokens, audit } as never, { logger: false });
  registerTrustRoutes(app, trust);
  registerScriptRoutes(app, { scripts });
  registerAuditVerifyRoutes(app, { store, serverDid: trust.identity.did });
  await app.ready();
  const admin = (await apiTokens.create('admin', 'admin')).token;
  const operator = (await apiTokens.create('ops', 'operator')).token;
  const viewer = (await apiTokens.create('watcher', 'viewer')).token;
  const call: TrustKit['call'] = async (method, url, token, body) => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
  };
  return {
    dataDir,
    store,
    clock,
    app,
    trust,
    scripts,
    audit,
    checkpointer,
    admin,
    operator,
    viewer,
    warnings,
    hubEvents,
    call,
    async close() {
      await app.close();
      await checkpointer.close();
      await store.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Signs a capability from `issuer` to `audience`; `parent` makes it a delegation. */
export function grant(
  issuer: Ed25519KeyPair,
  audience: { did: string },
  opts: { can?: Ability[]; on?: string; nbf?: number; exp?: number; parent?: Capability; now: number },
): Capability {
  return signCapability(
    {
      v: 1,
      iss: issuer.did,
      aud: audience.did,
      can: opts.can ?? ['exec/script'],
      on: opts.on ?? '*',
      // A delegation stays within its parent's window unless a test says otherwise.
      nbf: opts.nbf ?? Math.max(opts.now - HOUR, opts.parent?.nbf ?? 0),
      exp: opts.exp ?? Math.min(opts.now + 24 * HOUR, opts.parent?.exp ?? Number.MAX_SAFE_INTEGER),
      nonce: generateEd25519().did.slice(-16),
      prf: opts.parent ? [opts.parent] : [],
    },
    issuer.privateKeyPem,
  );
}

export function expectError(res: { status: number; body: any }, status: number, code: string, message: RegExp): void {
  if (res.status !== status || res.body?.error?.code !== code || !message.test(res.body?.error?.message ?? '')) {
    throw new Error(`expected ${status} ${code} ${message}, got ${res.status} ${JSON.stringify(res.body)}`);
  }
}
