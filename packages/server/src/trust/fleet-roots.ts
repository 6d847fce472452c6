import { FleetError, RootsUpdate, isDidKey, verifyRootsUpdate } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { AuditLog } from '../services/audit-log.js';
import type { RootsVersionRecord, Store } from '../store/store.js';
import { firstIssue, verdictError } from './verdict-error.js';

/** The fleet's root set as the API shows it. */
export interface RootsView {
  /** 0 before `roots init`. */
  version: number;
  roots: string[];
  /** Every signed update, in version order (version 1 comes from `roots init` and has none). */
  updates: RootsUpdate[];
}

export interface FleetRootsOptions {
  store: Store;
  clock: Clock;
  audit: AuditLog;
  /** Called after a signed update is stored (to push trust frames to connected agents). */
  onUpdate?: () => void;
}

/**
 * The DIDs agents trust fully. The first root is set once by an admin (`roots init`); every later
 * change is a RootsUpdate signed by a current root, checked here as agents will check it. The
 * current set is cached so join tokens can read it synchronously; every write reloads it first,
 * so replicas sharing a database do not act on a stale set.
 */
export class FleetRoots {
  private versions: RootsVersionRecord[] = [];

  constructor(private readonly o: FleetRootsOptions) {}

  async load(): Promise<void> {
    this.versions = await this.o.store.listRootsVersions();
  }

  /** The current roots (empty before `roots init`). Synchronous: join tokens embed it. */
  current(): string[] {
    return [...(this.versions.at(-1)?.roots ?? [])];
  }

  version(): number {
    return this.versions.at(-1)?.version ?? 0;
  }

  /** The signed updates in version order, as trust frames carry them. */
  updates(): RootsUpdate[] {
    return this.versions.flatMap((v) => (v.update === null ? [] : [v.update]));
  }

  view(): RootsView {
    return { version: this.version(), roots: this.current(), updates: this.updates() };
  }

  /** The view as stored now (another replica may have changed it since this one loaded). */
  async fresh(): Promise<RootsView> {
    await this.load();
    return this.view();
  }

  /** Sets the first root. Refused once any root exists: later changes must be signed by a root. */
  async init(did: string, actor: string): Promise<RootsView> {
    if (typeof did !== 'string' || !isDidKey(did)) throw new FleetError('invalid_argument', `not an Ed25519 did:key: '${String(did).slice(0, 60)}'`);
    await this.load();
    if (this.versions.length > 0) throw alreadyRooted(this.version());
    try {
      await this.o.store.insertRootsVersion({ version: 1, roots: [did], update: null, actor, at: this.o.clock.now() });
    } catch (err) {
      // Another replica (or a concurrent call) initialized first.
      if (FleetError.is(err, 'already_exists')) {
        await this.load();
        throw alreadyRooted(this.version());
      }
      throw err;
    }
    await this.load();
    await this.o.audit.record({ actor, action: 'roots.init', target: did, result: 'ok', details: { version: 1, roots: [did] } });
    return this.view();
  }

  /**
   * Adopts a signed update: it must verify against the current roots (as agents check it) and
   * carry exactly the next version, so two operators racing cannot both win.
   */
  async update(value: unknown, actor: string): Promise<RootsView> {
    const parsed = RootsUpdate.safeParse(value);
    if (!parsed.success) throw new FleetError('invalid_argument', `not a valid roots update: ${firstIssue(parsed.error)}`);
    const update = parsed.data;
    await this.load();
    const version = this.version();
    if (version === 0) throw new FleetError('failed_precondition', 'the fleet has no roots yet: set the first one with `gpufleet roots init --key NAME`');
    const verdict = verifyRootsUpdate(update, this.current(), { currentVersion: version });
    if (!verdict.ok) {
      await this.o.audit.record({ actor, action: 'roots.update', target: null, result: 'error', details: { signer: update.iss, version: update.version, reason: verdict.reason } });
      if (verdict.reason === 'expired') throw new FleetError('conflict', `${verdict.message}: fetch the roots again and sign version ${version + 1}`, { details: { reason: verdict.reason } });
      throw verdictError('roots update', verdict);
    }
    if (update.version !== version + 1) {
      throw new FleetError('conflict', `roots update carries version ${update.version}, but the next version is ${version + 1}`, { details: { expected: version + 1 } });
    }
    try {
      await this.o.store.insertRootsVersion({ version: update.version, roots: [...new Set(update.roots)], update, actor, at: this.o.clock.now() });
    } catch (err) {
      if (FleetError.is(err, 'already_exists')) throw new FleetError('conflict', `roots version ${update.version} was just taken by another update: fetch the roots again`);
      throw err;
    }
    await this.load();
    await this.o.audit.record({ actor, action: 'roots.update', target: null, result: 'ok', details: { signer: update.iss, version: update.version, roots: update.roots } });
    this.o.onUpdate?.();
    return this.view();
  }
}

function alreadyRooted(version: number): FleetError {
  return new FleetError('failed_precondition', `the fleet already has roots (version ${version}): change them with \`gpufleet roots set DID... --key NAME\`, signed by a current root`);
}
