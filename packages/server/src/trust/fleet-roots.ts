import { FleetError, RootsUpdate, isDidKey, verifyRootsUpdate } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { RootsVersionRecord, Store } from '../store/store.js';
import { rootChainProblem } from './root-chain.js';
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
  /** Where a broken root chain is reported (loudly, at error level). */
  log: { error(obj: object, msg: string): void };
  /** Called after a signed update is stored (to push trust frames to connected agents). */
  onUpdate?: () => void;
  /** Called after any change of the root set, `roots init` included (other replicas read it again). */
  onChanged: () => void;
}

/**
 * The DIDs agents trust fully. The first root is set once by an admin (`roots init`); every later
 * change is a RootsUpdate signed by a current root, checked here as agents will check it. The
 * current set is cached so join tokens can read it synchronously; every write reloads it first,
 * so replicas sharing a database do not act on a stale set.
 *
 * Every load checks the stored history as a signature chain (rootChainProblem). A broken chain
 * is never served: it is logged at error level, join tokens, the roots view and root changes
 * fail with the reason, and trust frames carry no root updates until the store is repaired.
 */
export class FleetRoots {
  private versions: RootsVersionRecord[] = [];
  /** Why the stored chain was refused at the last load; null when it verified. */
  private broken: string | null = null;

  constructor(private readonly o: FleetRootsOptions) {}

  /** Reads the root history and verifies its chain; a broken chain is refused (see brokenChain). */
  async load(): Promise<void> {
    const versions = await this.o.store.listRootsVersions();
    const problem = rootChainProblem(versions);
    if (problem === null) {
      this.versions = versions;
      this.broken = null;
      return;
    }
    this.versions = [];
    if (problem !== this.broken)
      this.o.log.error(
        { problem },
        `REFUSING the fleet roots in the store: their signature chain is broken (${problem}); join tokens and root changes fail until it is repaired`,
      );
    this.broken = problem;
  }

  /** Why the stored roots are refused, or null when their chain verified at the last load. */
  brokenChain(): string | null {
    return this.broken;
  }

  /** The current roots (empty before `roots init`). Synchronous: join tokens embed it. Throws while the stored chain is broken. */
  current(): string[] {
    this.assertChain();
    return [...(this.versions.at(-1)?.roots ?? [])];
  }

  private assertChain(): void {
    if (this.broken !== null) {
      throw new FleetError(
        'failed_precondition',
        `the fleet roots in the store are refused: their signature chain is broken (${this.broken}). Restore the fleet_roots table from a backup; no host is told about these roots`,
      );
    }
  }

  version(): number {
    return this.versions.at(-1)?.version ?? 0;
  }

  /** The signed updates in version order, as trust frames carry them. */
  updates(): RootsUpdate[] {
    return this.versions.flatMap((v) => (v.update === null ? [] : [v.update]));
  }

  view(): RootsView {
    this.assertChain();
    return { version: this.version(), roots: this.current(), updates: this.updates() };
  }

  /** The view as stored now (another replica may have changed it since this one loaded). */
  async fresh(): Promise<RootsView> {
    await this.load();
    return this.view();
  }

  /** Sets the first root. Refused once any root exists: later changes must be signed by a root. */
  async init(did: string, audit: ActionAudit): Promise<RootsView> {
    const actor = audit.actor;
    if (typeof did !== 'string' || !isDidKey(did)) throw new FleetError('invalid_argument', `not an Ed25519 did:key: '${String(did).slice(0, 60)}'`);
    await this.load();
    this.assertChain();
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
    this.o.onChanged();
    await audit.note({ action: 'roots.init', target: did, result: 'ok', details: { version: 1, roots: [did] } });
    return this.view();
  }

  /**
   * Adopts a signed update: it must verify against the current roots (as agents check it) and
   * carry exactly the next version, so two operators racing cannot both win.
   */
  async update(value: unknown, audit: ActionAudit): Promise<RootsView> {
    const actor = audit.actor;
    const parsed = RootsUpdate.safeParse(value);
    if (!parsed.success) throw new FleetError('invalid_argument', `not a valid roots update: ${firstIssue(parsed.error)}`);
    const update = parsed.data;
    await this.load();
    this.assertChain();
    const version = this.version();
    if (version === 0) throw new FleetError('failed_precondition', 'the fleet has no roots yet: set the first one with `gpufleet roots init --key NAME`');
    const verdict = verifyRootsUpdate(update, this.current(), { currentVersion: version });
    if (!verdict.ok) {
      await audit.note({
        action: 'roots.update',
        target: null,
        result: 'error',
        details: { signer: update.iss, version: update.version, reason: verdict.reason },
      });
      if (verdict.reason === 'expired')
        throw new FleetError('conflict', `${verdict.message}: fetch the roots again and sign version ${version + 1}`, { details: { reason: verdict.reason } });
      throw verdictError('roots update', verdict);
    }
    if (update.version !== version + 1) {
      throw new FleetError('conflict', `roots update carries version ${update.version}, but the next version is ${version + 1}`, {
        details: { expected: version + 1 },
      });
    }
    try {
      await this.o.store.insertRootsVersion({ version: update.version, roots: [...new Set(update.roots)], update, actor, at: this.o.clock.now() });
    } catch (err) {
      if (FleetError.is(err, 'already_exists'))
        throw new FleetError('conflict', `roots version ${update.version} was just taken by another update: fetch the roots again`);
      throw err;
    }
    await this.load();
    await audit.note({ action: 'roots.update', target: null, result: 'ok', details: { signer: update.iss, version: update.version, roots: update.roots } });
    this.o.onUpdate?.();
    this.o.onChanged();
    return this.view();
  }
}

function alreadyRooted(version: number): FleetError {
  return new FleetError(
    'failed_precondition',
    `the fleet already has roots (version ${version}): change them with \`gpufleet roots set DID... --key NAME\`, signed by a current root`,
  );
}
