import type { Metadata, Root } from '@tufjs/models';
import {
  canonicalJson,
  FleetError,
  type NewReleaseRootRequest,
  type PublishReleaseRequest,
  type PublishTeamReleaseRequest,
  type ReleaseList,
  type ReleaseRepositoryView,
  type ReleaseTeamList,
  type ReleaseTeamsRequest,
  type UploadReleaseKeysRequest,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { ReleaseMetadataRecord, Store } from '../store/store.js';
import type { MasterKeys } from '../trust/master-keys.js';
import { OnlineKeys } from './online-keys.js';
import { makeSnapshot, makeTimestamp } from './online-signing.js';
import { checkOutsideTeams, delegationsText, teamDelegations } from './delegation-checks.js';
import { checkImmutable, targetEntries } from './publish-checks.js';
import { latestMetadata, releaseList, repositoryView } from './release-reads.js';
import { acceptUploads, type AcceptedUploads } from './release-uploads.js';
import { planTeamPublish, planTeamsChange } from './team-publishing.js';
import { teamList } from './team-reads.js';
import { signingKeyFromPem } from './tuf-keys.js';
import { checkRootSuccession, expiresMs, parseMetadata, roleKeyIds, tufExpires, verifyRoleSignatures } from './tuf-metadata.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** How long what the server signs stays valid, and when it is signed again. */
export interface ReleaseTimings {
  /** A timestamp's validity (default 1 day): how long a client can be kept on stale metadata. */
  timestampValidMs: number;
  /** Re-sign the timestamp when less than this is left (default 6 h). */
  timestampRefreshMs: number;
  /** A snapshot's validity (default 7 days). */
  snapshotValidMs: number;
  /** Re-sign the snapshot when less than this is left (default 1 day). */
  snapshotRefreshMs: number;
}

export const RELEASE_TIMINGS: ReleaseTimings = { timestampValidMs: DAY, timestampRefreshMs: 6 * HOUR, snapshotValidMs: 7 * DAY, snapshotRefreshMs: DAY };

export interface ReleaseRepositoryOptions {
  store: Store;
  clock: Clock;
  /** The master keys the online keys are sealed with; no current key refuses them. */
  keys: MasterKeys;
  /** Told when an online key is sealed again under a new master key. */
  log: { info(obj: object, msg: string): void };
  timings?: Partial<ReleaseTimings>;
}

/**
 * The TUF repository of signed releases (issue 14). Root and targets metadata come signed from
 * the operator's machine and are checked as any client would check them; the server adds the
 * snapshot and timestamp with its online keys after every accepted change, and signs a fresh
 * timestamp before the current one expires. Writes in this process run one at a time; across
 * replicas the store's (role, version) key lets one of two racing writes win.
 */
export class ReleaseRepository {
  readonly keys: OnlineKeys;
  readonly timings: ReleaseTimings;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: ReleaseRepositoryOptions) {
    this.keys = new OnlineKeys({ store: o.store, clock: o.clock, keys: o.keys, log: o.log });
    this.timings = { ...RELEASE_TIMINGS, ...o.timings };
  }

  view(): Promise<ReleaseRepositoryView> {
    return repositoryView(this.o.store, (root) => this.keys.complete(root));
  }

  list(): Promise<ReleaseList> {
    return releaseList(this.o.store, (root) => this.keys.complete(root));
  }

  /** Stores the roots the server lacks and the online keys of the newest one (`releases keys upload`). */
  uploadKeys(req: UploadReleaseKeysRequest, audit: ActionAudit): Promise<ReleaseRepositoryView> {
    return this.serial(async () => {
      this.keys.requireMasterKey();
      const snapshotKey = signingKeyFromPem(req.snapshotKey, 'snapshotKey');
      const timestampKey = signingKeyFromPem(req.timestampKey, 'timestampKey');
      const now = this.o.clock.now();
      let tip = await latestMetadata(this.o.store, 'root');
      const fresh: ReleaseMetadataRecord[] = [];
      for (const [i, json] of req.roots.entries()) {
        const root = parseMetadata('root', json, `roots[${i}]`);
        if (tip !== null && root.signed.version <= tip.signed.version) {
          // Sending roots the server holds already is harmless, as long as they are the same.
          const stored = await this.o.store.getReleaseMetadata('root', root.signed.version);
          if (stored && canonicalJson(JSON.parse(stored.json).signed) === canonicalJson((json as { signed: unknown }).signed)) continue;
          throw new FleetError('conflict', `roots[${i}] is root version ${root.signed.version}, which the server holds with other content`);
        }
        checkRootSuccession(tip, root, now);
        fresh.push({ role: 'root', version: root.signed.version, json: JSON.stringify(json), createdAt: now });
        tip = root;
      }
      if (tip === null)
        throw new FleetError(
          'failed_precondition',
          'the repository has no root yet: send 1.root.json with the keys (`gpufleet releases keys upload --dir DIR`)',
        );
      for (const [role, key] of [
        ['snapshot', snapshotKey],
        ['timestamp', timestampKey],
      ] as const) {
        const threshold = tip.signed.roles[role]!.threshold;
        if (threshold !== 1)
          throw new FleetError('invalid_argument', `root version ${tip.signed.version} wants ${threshold} ${role} signatures; this server signs with one key`);
        if (!roleKeyIds(tip, role).includes(key.keyId)) {
          throw new FleetError('invalid_argument', `${role}Key (${key.keyId.slice(0, 12)}) is not the ${role} key of root version ${tip.signed.version}`);
        }
      }
      await this.keys.put([snapshotKey, timestampKey]);
      await this.commitWithOnline(tip, fresh, now);
      await audit.note({
        action: 'release.keys',
        target: `root v${tip.signed.version}`,
        result: 'ok',
        details: { roots: fresh.map((r) => r.version), snapshotKey: snapshotKey.keyId, timestampKey: timestampKey.keyId },
      });
      return this.view();
    });
  }

  /** Accepts the next root (`releases keys sign-root`, then upload): the online keys it names must be held. */
  rotateRoot(req: NewReleaseRootRequest, audit: ActionAudit): Promise<ReleaseRepositoryView> {
    return this.serial(async () => {
      const current = await latestMetadata(this.o.store, 'root');
      if (current === null)
        throw new FleetError('failed_precondition', 'the repository has no root yet: upload it with `gpufleet releases keys upload --dir DIR`');
      const root = parseMetadata('root', req.root, 'the new root');
      const now = this.o.clock.now();
      checkRootSuccession(current, root, now);
      if (!(await this.keys.complete(root))) {
        throw new FleetError(
          'failed_precondition',
          `root version ${root.signed.version} names snapshot or timestamp keys the server does not hold: send it with them (\`gpufleet releases keys upload --dir DIR\`)`,
        );
      }
      await this.commitWithOnline(root, [{ role: 'root', version: root.signed.version, json: JSON.stringify(req.root), createdAt: now }], now);
      await audit.note({ action: 'release.root', target: `root v${root.signed.version}`, result: 'ok', details: { expires: root.signed.expires } });
      return this.view();
    });
  }

  /** Accepts the next targets metadata, signed by the targets key, with the bytes of its new targets. */
  publish(req: PublishReleaseRequest, audit: ActionAudit): Promise<ReleaseList> {
    return this.serial(async () => {
      const root = await this.requireRoot();
      const targets = parseMetadata('targets', req.targets, 'the targets metadata');
      const v = targets.signed.version;
      verifyRoleSignatures(root, 'targets', targets, `targets version ${v}`);
      const current = await latestMetadata(this.o.store, 'targets');
      const expected = (current?.signed.version ?? 0) + 1;
      if (v !== expected)
        throw new FleetError('failed_precondition', `the next targets must be version ${expected} (the current one is ${expected - 1}), got ${v}`);
      const now = this.o.clock.now();
      if (expiresMs(targets) <= now) throw new FleetError('invalid_argument', `targets version ${v} expired at ${targets.signed.expires}`);
      const entries = targetEntries(targets);
      const before = current ? targetEntries(current) : [];
      checkImmutable(before, entries);
      if (delegationsText(targets) !== delegationsText(current))
        throw new FleetError('invalid_argument', `targets version ${v} changes the teams: a publish keeps them (change them with \`releases teams\`)`);
      checkOutsideTeams(entries, teamDelegations(targets), `targets version ${v}`);
      const { uploads, ...written } = await acceptUploads(this.o.store, { entries, files: req.files, metadataVersion: v, now });
      const record: ReleaseMetadataRecord = { role: 'targets', version: v, json: JSON.stringify(req.targets), createdAt: now };
      await this.commitWithOnline(root, [record], now, { 'targets.json': v }, written);
      const was = new Set(before.map((e) => e.path));
      const is = new Set(entries.map((e) => e.path));
      await audit.note({
        action: 'release.publish',
        target: `targets v${v}`,
        result: 'ok',
        details: { added: [...is].filter((p) => !was.has(p)), removed: [...was].filter((p) => !is.has(p)), uploaded: uploads.map((u) => u.path) },
      });
      return this.list();
    });
  }

  /** The teams the current targets delegate to (`releases teams ls`). */
  teams(): Promise<ReleaseTeamList> {
    return teamList(this.o.store);
  }

  /** Accepts the next top-level targets with teams added, changed or removed (`releases teams add|remove`). */
  changeTeams(req: ReleaseTeamsRequest, audit: ActionAudit): Promise<ReleaseTeamList> {
    return this.serial(async () => {
      const root = await this.requireRoot();
      const now = this.o.clock.now();
      const plan = await planTeamsChange(this.o.store, root, req, now);
      await this.commitWithOnline(root, [plan.record], now, { 'targets.json': plan.version });
      await audit.note({
        action: 'release.teams',
        target: `targets v${plan.version}`,
        result: 'ok',
        details: { added: plan.added, removed: plan.removed, changed: plan.changed },
      });
      return this.teams();
    });
  }

  /** Accepts a team's next targets metadata, signed by its key(s), with the bytes of its new bundles. */
  publishTeam(team: string, req: PublishTeamReleaseRequest, audit: ActionAudit): Promise<ReleaseList> {
    return this.serial(async () => {
      const root = await this.requireRoot();
      const now = this.o.clock.now();
      const plan = await planTeamPublish(this.o.store, team, req, now);
      const { uploads, ...written } = plan.accepted;
      await this.commitWithOnline(root, [plan.record], now, { [`${plan.role}.json`]: plan.version }, written);
      await audit.note({
        action: 'release.team-publish',
        target: `${plan.role} v${plan.version}`,
        result: 'ok',
        details: { added: plan.added, uploaded: uploads.map((u) => u.path) },
      });
      return this.list();
    });
  }

  private async requireRoot(): Promise<Metadata<Root>> {
    const root = await latestMetadata(this.o.store, 'root');
    if (root === null) throw new FleetError('failed_precondition', 'the repository has no root yet: run `gpufleet releases keys init` and `keys upload` first');
    return root;
  }

  /**
   * Signs a new timestamp when the current one has less than `timestampRefreshMs` left (and a
   * new snapshot with it when that has less than `snapshotRefreshMs`). Returns what it signed.
   */
  refresh(audit: ActionAudit): Promise<'none' | 'timestamp' | 'snapshot'> {
    return this.serial(async () => {
      const [root, targets, snapshot, timestamp] = await Promise.all([
        latestMetadata(this.o.store, 'root'),
        this.o.store.getReleaseMetadata('targets'),
        this.o.store.getReleaseMetadata('snapshot'),
        this.o.store.getReleaseMetadata('timestamp'),
      ]);
      if (!root || !targets || !snapshot || !timestamp) return 'none';
      const now = this.o.clock.now();
      const left = (json: string) => Date.parse((JSON.parse(json) as { signed: { expires: string } }).signed.expires) - now;
      const resnap = left(snapshot.json) < this.timings.snapshotRefreshMs;
      if (!resnap && left(timestamp.json) >= this.timings.timestampRefreshMs) return 'none';
      const records = resnap
        ? await this.online(root, {}, now)
        : [await this.timestamp(root, { version: snapshot.version, text: snapshot.json }, timestamp.version + 1, now)];
      try {
        await this.o.store.commitRelease({ metadata: records });
      } catch (err) {
        // Another replica signed this version first: its timestamp serves as well as ours.
        if (FleetError.is(err, 'already_exists')) return 'none';
        throw err;
      }
      const ts = records.at(-1)!;
      await audit.note({
        action: 'release.timestamp',
        target: `timestamp v${ts.version}`,
        result: 'ok',
        details: { snapshot: resnap ? records[0]!.version : snapshot.version },
      });
      return resnap ? 'snapshot' : 'timestamp';
    });
  }

  /**
   * Commits `metadata` with a new snapshot and timestamp when anything is published (or being
   * published); `changes` are the new versions of targets files (`targets.json`, `team-NAME.json`).
   */
  private async commitWithOnline(
    root: Metadata<Root>,
    metadata: ReleaseMetadataRecord[],
    now: number,
    changes: Readonly<Record<string, number>> = {},
    written?: Omit<AcceptedUploads, 'uploads'>,
  ): Promise<void> {
    const online = await this.online(root, changes, now);
    await this.o.store.commitRelease({ metadata: [...metadata, ...online], blobs: written?.blobs ?? [], targets: written?.rows ?? [] });
  }

  /**
   * The next snapshot and the timestamp naming it: the current snapshot's files with `changes`
   * applied (none when nothing is published yet). Every file a snapshot named stays named.
   */
  private async online(root: Metadata<Root>, changes: Readonly<Record<string, number>>, now: number): Promise<ReleaseMetadataRecord[]> {
    const previous = await this.o.store.getReleaseMetadata('snapshot');
    const meta: Record<string, number> = {};
    if (previous) {
      const listed = (JSON.parse(previous.json) as { signed: { meta: Record<string, { version: number }> } }).signed.meta;
      for (const [file, info] of Object.entries(listed)) meta[file] = info.version;
    } else {
      const targets = await this.o.store.getReleaseMetadata('targets');
      if (targets) meta['targets.json'] = targets.version;
    }
    Object.assign(meta, changes);
    const { 'targets.json': targetsVersion, ...rest } = meta;
    if (targetsVersion === undefined) return [];
    const delegated = Object.fromEntries(Object.entries(rest).map(([file, v]) => [file.replace(/\.json$/, ''), v]));
    const version = (previous?.version ?? 0) + 1;
    const snap = makeSnapshot({
      version,
      targetsVersion,
      delegated,
      expires: tufExpires(now, this.timings.snapshotValidMs),
      signers: await this.keys.signers(root, 'snapshot'),
    });
    const tsVersion = ((await this.o.store.getReleaseMetadata('timestamp'))?.version ?? 0) + 1;
    return [{ role: 'snapshot', version, json: snap.text, createdAt: now }, await this.timestamp(root, { version, text: snap.text }, tsVersion, now)];
  }

  private async timestamp(root: Metadata<Root>, snapshot: { version: number; text: string }, version: number, now: number): Promise<ReleaseMetadataRecord> {
    const ts = makeTimestamp({
      version,
      snapshotVersion: snapshot.version,
      snapshotText: snapshot.text,
      expires: tufExpires(now, this.timings.timestampValidMs),
      signers: await this.keys.signers(root, 'timestamp'),
    });
    return { role: 'timestamp', version, json: ts.text, createdAt: now };
  }

  /** Runs writes of this process one after another (a failed one does not stop the next). */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
