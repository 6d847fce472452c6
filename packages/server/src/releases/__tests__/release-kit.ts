import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublishReleaseRequest, PublishTeamReleaseRequest, ReleaseTeamsRequest, UploadReleaseKeysRequest } from '@gpufleet/protocol';
import { agentTargetPath, bundleTargetPath, teamRoleName } from '@gpufleet/protocol';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import type { ActionAudit, ActionOutcome } from '../../services/audit-log.js';
import { masterKeysFrom } from '../../trust/master-keys.js';
import { ManualClock } from '../../testing/test-server.js';
import { initKeyDir, latestRoot, readKeyDir } from '../key-dir.js';
import { ReleaseRepository, type ReleaseTimings } from '../release-repository.js';
import { latestMetadata } from '../release-reads.js';
import { nextTargets } from '../targets-signing.js';
import { nextTargetsWithTeams, nextTeamTargets, type TeamChange } from '../delegation-signing.js';
import type { TufSigningKey } from '../tuf-keys.js';

export const MASTER_KEY = 'release-kit-master-key-0123456789';
export const DAY = 86_400_000;

/** A real SQLite store, a keys folder made by `keys init`, and the repository over them. */
export interface ReleaseKit {
  dir: string;
  keysDir: string;
  store: Store;
  clock: ManualClock;
  repo: ReleaseRepository;
  /** What the repository noted for the audit log, in order. */
  notes: ActionOutcome[];
  audit: ActionAudit;
  /** The upload `keys upload` makes from the keys folder: every root file and the online keys. */
  uploadRequest(): UploadReleaseKeysRequest;
  /** A publish of `agent/gpufleet-agent-<version>.tgz` signed with the folder's targets key, as `releases publish` makes it. */
  publishRequest(version: string, bytes?: Uint8Array, opts?: { validMs?: number }): Promise<PublishReleaseRequest>;
  /** The next top-level targets with a team added or removed, signed with the folder's targets key, as `releases teams` makes it. */
  teamsRequest(change: TeamChange, opts?: { validMs?: number }): Promise<ReleaseTeamsRequest>;
  /** A team's publish of bundle `name` (which must be TEAM-...) signed with `key`, as `releases publish bundle --team` makes it. */
  teamPublishRequest(
    team: string,
    key: TufSigningKey,
    name: string,
    version: string,
    bytes?: Uint8Array,
    opts?: { validMs?: number },
  ): Promise<PublishTeamReleaseRequest>;
  close(): Promise<void>;
}

export async function startReleaseKit(opts: { masterKey?: string | null; timings?: Partial<ReleaseTimings> } = {}): Promise<ReleaseKit> {
  const dir = mkdtempSync(join(tmpdir(), 'release-kit-'));
  const keysDir = join(dir, 'keys');
  // tuf-js judges expiry by the real time: the kit's clock starts there.
  const clock = new ManualClock(Date.now());
  initKeyDir({ dir: keysDir, validMs: 365 * DAY, now: clock.now() });
  const store = await openStore({ database: null, dataDir: dir });
  await store.migrate();
  const masterKey = opts.masterKey === undefined ? MASTER_KEY : opts.masterKey;
  const keys = masterKeysFrom({}, masterKey ?? '');
  const repo = new ReleaseRepository({ store, clock, keys, log: { info: () => {} }, ...(opts.timings ? { timings: opts.timings } : {}) });
  const notes: ActionOutcome[] = [];
  const audit: ActionAudit = { actor: 'test', note: async (entry) => void notes.push(entry) };
  const kit: ReleaseKit = {
    dir,
    keysDir,
    store,
    clock,
    repo,
    notes,
    audit,
    uploadRequest() {
      const kd = readKeyDir(keysDir);
      return {
        roots: kd.roots.map((r) => JSON.parse(readFileSync(r.file, 'utf8'))),
        snapshotKey: kd.snapshot!.key.privateKeyPem,
        timestampKey: kd.timestamp!.key.privateKeyPem,
      };
    },
    async publishRequest(version, bytes = new Uint8Array(Buffer.from(`gpufleet-agent ${version}`)), o = {}) {
      const kd = readKeyDir(keysDir);
      const current = await store.getReleaseMetadata('targets');
      const root = (await latestMetadata(store, 'root')) ?? latestRoot(kd);
      const path = agentTargetPath(version);
      const md = nextTargets({
        current: current ? JSON.parse(current.json) : null,
        root,
        key: kd.targets!.key,
        add: { path, bytes, custom: { kind: 'agent', name: 'gpufleet-agent', version } },
        validMs: o.validMs ?? 90 * DAY,
        now: clock.now(),
      });
      return { targets: md.toJSON() as Record<string, unknown>, files: [{ path, data: Buffer.from(bytes).toString('base64') }] };
    },
    async teamsRequest(change, o = {}) {
      const current = await store.getReleaseMetadata('targets');
      const root = (await latestMetadata(store, 'root')) ?? latestRoot(readKeyDir(keysDir));
      const { metadata } = nextTargetsWithTeams({
        current: current ? JSON.parse(current.json) : null,
        root,
        key: readKeyDir(keysDir).targets!.key,
        change,
        validMs: o.validMs ?? 90 * DAY,
        now: clock.now(),
      });
      return { targets: metadata.toJSON() as Record<string, unknown> };
    },
    async teamPublishRequest(team, key, name, version, bytes = new Uint8Array(Buffer.from(`bundle ${name} ${version}`)), o = {}) {
      const top = await store.getReleaseMetadata('targets');
      const current = await store.getReleaseMetadata(teamRoleName(team) as `team-${string}`);
      const path = bundleTargetPath(name, version);
      const md = nextTeamTargets({
        team,
        topLevel: JSON.parse(top!.json),
        current: current ? JSON.parse(current.json) : null,
        storedVersion: current?.version ?? 0,
        key,
        add: { path, bytes, custom: { kind: 'bundle', name, version } },
        validMs: o.validMs ?? 30 * DAY,
        now: clock.now(),
      });
      return { metadata: md.toJSON() as Record<string, unknown>, files: [{ path, data: Buffer.from(bytes).toString('base64') }] };
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return kit;
}
