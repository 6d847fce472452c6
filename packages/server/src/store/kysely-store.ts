import { FleetError } from '@gpufleet/protocol';
import { sql, type Kysely } from 'kysely';
import { migrateToLatest, type StoreDialect } from './migrations.js';
import { KyselyTrustStore } from './kysely-trust-store.js';
import type {
  AuditChainRecord,
  CapabilityRecord,
  LabelAttestationRecord,
  ListAuditChainQuery,
  RevocationRecord,
  RootsVersionRecord,
  ScriptRecord,
  SecretRecord,
} from './trust-records.js';
import * as runQueries from './run-queries.js';
import * as healthQueries from './health-queries.js';
import * as retentionQueries from './event-retention-queries.js';
import * as tokenQueries from './token-queries.js';
import * as agentEventQueries from './agent-event-queries.js';
import * as jobQueries from './job-queries.js';
import * as allocationQueries from './allocation-queries.js';
import * as allocOutputQueries from './alloc-output-queries.js';
import * as poolQueries from './pool-queries.js';
import * as sshHostQueries from './ssh-host-queries.js';
import { deleteSealedNodeKey } from './node-key-handover.js';
import * as groupQueries from './group-queries.js';
import * as playQueries from './play-queries.js';
import * as releaseQueries from './release-queries.js';
import * as rolloutQueries from './rollout-queries.js';
import type { RolloutEventInput, RolloutEventRecord, RolloutHostPatch, RolloutHostRecord, RolloutPatch, RolloutRecord } from './rollout-records.js';
import type { ReleaseBlobRecord, ReleaseCommit, ReleaseMetadataRecord, ReleaseRole, ReleaseTargetRecord } from './release-records.js';
import type { ListPlaysQuery, PlayCondition, PlayEventRecord, PlayHostRecord, PlayPatch, PlayRecord, TemplateRecord } from './play-records.js';
import type { GroupPatch, GroupRecord, VarRecord, VarRecordScope, VarsChange } from './group-records.js';
import type { SshCredentialRecord, SshHostPatch, SshHostRecord } from './ssh-host-records.js';
import type {
  PoolConfigRecord,
  PoolEventRecord,
  PoolMemberRecord,
  PoolOperationPatch,
  PoolOperationRecord,
  PoolSizeSample,
  PoolStateRecord,
  ProviderConfigRecord,
} from './pool-records.js';
import type { PoolOpStage, RolloutHostState, RolloutState } from '@gpufleet/protocol';
import type {
  AllocationPatch,
  AllocationRecord,
  AllocOutputInput,
  AllocOutputRecord,
  DeploymentRecord,
  GpuClaimRecord,
  JobRecord,
  JobVersionRecord,
  ListAllocationsQuery,
  PlanCommit,
  PlanConflict,
} from './workload-records.js';
import type { ListRunOutputQuery, ListRunsQuery, RunOutputRecord, RunProgress, RunRecord, RunTargetRecord } from './run-records.js';
import { nodePatchToRow, nodeToRow, rowToAudit, rowToNode } from './row-mappers.js';
import type { Database } from './schema.js';
import { BATCH_ROWS, checkId, checkInt, checkLimit, checkText } from './store-checks.js';
import type {
  AgentEventRecord,
  FindingsChange,
  HealthEventInput,
  HealthEventRecord,
  HealthFindingRecord,
  ListHealthEventsQuery,
  StateChange,
  StateMarkRecord,
  ApiTokenRecord,
  AuditEntry,
  AuditInput,
  JoinTokenRecord,
  ListAgentEventsQuery,
  ListAuditQuery,
  NodePatch,
  NodeRecord,
  Store,
} from './store.js';

/** Options of {@link KyselyStore}. */
export interface KyselyStoreOptions {
  kind: StoreDialect;
  /** PostgreSQL schema holding Kysely's migration bookkeeping; see migrateToLatest. */
  migrationTableSchema?: string;
  /** Runs once after Kysely is destroyed, for resources Kysely may not release itself. */
  afterClose?: () => Promise<void>;
}

/**
 * The one Store implementation, over any Kysely dialect that speaks SQLite or PostgreSQL SQL.
 * Everything it runs is portable: `on conflict ... do nothing/update`, `returning`, integer
 * booleans and bigint epoch-ms times. The dialect only matters to the migrations.
 */
export class KyselyStore implements Store {
  readonly kind: StoreDialect;
  #closed = false;
  readonly #trust: KyselyTrustStore;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly opts: KyselyStoreOptions,
  ) {
    this.kind = opts.kind;
    this.#trust = new KyselyTrustStore(db, opts.kind);
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this.db, this.kind, this.opts.migrationTableSchema);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.db.destroy();
    } finally {
      await this.opts.afterClose?.();
    }
  }

  // ---- nodes ----

  async insertNode(node: NodeRecord): Promise<void> {
    const row = nodeToRow(node);
    // `on conflict do nothing` + row count instead of catching each driver's unique-violation error.
    const r = await this.db
      .insertInto('nodes')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) throw new FleetError('already_exists', `node ${row.id} already exists`);
  }

  async getNode(id: string): Promise<NodeRecord | undefined> {
    const row = await this.db.selectFrom('nodes').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
    return row === undefined ? undefined : rowToNode(row);
  }

  /** All nodes, oldest enrollment first (ties by id). */
  async listNodes(): Promise<NodeRecord[]> {
    const rows = await this.db.selectFrom('nodes').selectAll().orderBy('enrolled_at').orderBy('id').execute();
    return rows.map(rowToNode);
  }

  async updateNode(id: string, patch: NodePatch): Promise<void> {
    checkId('id', id);
    const row = nodePatchToRow(patch);
    if (Object.keys(row).length === 0) {
      // Nothing to write, but an absent node is still an error to the caller.
      if ((await this.getNode(id)) === undefined) throw new FleetError('not_found', `node ${id} not found`);
      return;
    }
    const r = await this.db.updateTable('nodes').set(row).where('id', '=', id).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new FleetError('not_found', `node ${id} not found`);
  }

  /** Ids that are not (or no longer) stored are skipped; for a repeated id the last entry wins. */
  async touchNodes(seen: ReadonlyArray<{ id: string; lastSeenAt: number }>): Promise<void> {
    await this.#setPerNode('touchNodes', 'seen', 'lastSeenAt', 'last_seen_at', seen);
  }

  async saveAckedSeqs(acked: ReadonlyArray<{ id: string; ackedSeq: number }>): Promise<void> {
    await this.#setPerNode('saveAckedSeqs', 'acked', 'ackedSeq', 'acked_seq', acked);
  }

  /**
   * Sets one integer column of many nodes in one transaction: one UPDATE ... SET col = CASE id
   * WHEN ... END per chunk, a round trip per chunk rather than per node. Everything is checked
   * before anything is written; a repeated id keeps its last value; unknown ids are skipped.
   */
  async #setPerNode<F extends string>(
    method: string,
    arg: string,
    field: F,
    column: 'last_seen_at' | 'acked_seq',
    entries: ReadonlyArray<{ id: string } & Record<F, number>>,
  ): Promise<void> {
    if (!Array.isArray(entries)) throw new FleetError('invalid_argument', `store: ${method} wants an array`);
    const latest = new Map<string, number>();
    entries.forEach((s, i) => {
      if (typeof s !== 'object' || s === null) throw new FleetError('invalid_argument', `store: ${arg}[${i}] must be an object`);
      latest.set(checkId(`${arg}[${i}].id`, s.id), checkInt(`${arg}[${i}].${field}`, s[field]));
    });
    if (latest.size === 0) return;
    const all = [...latest];
    // The cast keeps PostgreSQL from typing the untyped parameters as text.
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < all.length; i += BATCH_ROWS) {
        const chunk = all.slice(i, i + BATCH_ROWS);
        const whens = chunk.map(([id, v]) => sql`when ${id} then cast(${v} as bigint)`);
        await trx
          .updateTable('nodes')
          .set({ [column]: sql<number>`case ${sql.ref('id')} ${sql.join(whens, sql` `)} end` })
          .where(
            'id',
            'in',
            chunk.map(([id]) => id),
          )
          .execute();
      }
    });
  }

  /** Removes the node row only: its agent events and audit entries stay as history. */
  async deleteNode(id: string): Promise<void> {
    await this.db.deleteFrom('nodes').where('id', '=', checkId('id', id)).execute();
  }

  // ---- join tokens and API tokens (SQL in token-queries.ts) ----

  async insertJoinToken(token: JoinTokenRecord): Promise<void> {
    return tokenQueries.insertJoinToken(this.db, token);
  }

  getJoinToken(id: string): Promise<JoinTokenRecord | undefined> {
    return tokenQueries.getJoinToken(this.db, id);
  }

  listJoinTokens(): Promise<JoinTokenRecord[]> {
    return tokenQueries.listJoinTokens(this.db);
  }

  revokeJoinToken(id: string, at: number): Promise<boolean> {
    return tokenQueries.revokeJoinToken(this.db, id, at);
  }

  consumeJoinToken(id: string): Promise<boolean> {
    return tokenQueries.consumeJoinToken(this.db, id);
  }

  async insertApiToken(token: ApiTokenRecord): Promise<void> {
    return tokenQueries.insertApiToken(this.db, token);
  }

  getApiToken(id: string): Promise<ApiTokenRecord | undefined> {
    return tokenQueries.getApiToken(this.db, id);
  }

  listApiTokens(): Promise<ApiTokenRecord[]> {
    return tokenQueries.listApiTokens(this.db);
  }

  revokeApiToken(id: string, at: number): Promise<boolean> {
    return tokenQueries.revokeApiToken(this.db, id, at);
  }

  touchApiToken(id: string, at: number): Promise<void> {
    return tokenQueries.touchApiToken(this.db, id, at);
  }

  // ---- agent events (SQL in agent-event-queries.ts and event-retention-queries.ts) ----

  insertAgentEvents(events: ReadonlyArray<AgentEventRecord>): Promise<number> {
    return agentEventQueries.insertAgentEvents(this.db, events);
  }

  listAgentEvents(query: ListAgentEventsQuery): Promise<AgentEventRecord[]> {
    return agentEventQueries.listAgentEvents(this.db, query);
  }

  pruneAgentEventsBefore(receivedBefore: number, limit: number): Promise<number> {
    return retentionQueries.pruneAgentEventsBefore(this.db, receivedBefore, limit);
  }

  nodesOverEventCap(maxPerNode: number): Promise<Array<{ nodeId: string; events: number }>> {
    return retentionQueries.nodesOverEventCap(this.db, maxPerNode);
  }

  trimNodeEvents(nodeId: string, keep: number, limit: number): Promise<number> {
    return retentionQueries.trimNodeEvents(this.db, nodeId, keep, limit);
  }

  // ---- audit ----

  /** Appends one entry and returns its id; `details: undefined` is stored (and read back) as null. */
  async appendAudit(entry: AuditInput): Promise<number> {
    return this.#trust.appendAudit(entry);
  }

  // ---- trust (0004_trust): roots, capabilities, revocations, scripts, secrets, audit chain ----

  listAuditChain(query?: ListAuditChainQuery): Promise<AuditChainRecord[]> {
    return this.#trust.listAuditChain(query);
  }
  insertRootsVersion(record: RootsVersionRecord): Promise<void> {
    return this.#trust.insertRootsVersion(record);
  }
  listRootsVersions(): Promise<RootsVersionRecord[]> {
    return this.#trust.listRootsVersions();
  }
  insertCapability(record: CapabilityRecord): Promise<boolean> {
    return this.#trust.insertCapability(record);
  }
  getCapability(id: string): Promise<CapabilityRecord | undefined> {
    return this.#trust.getCapability(id);
  }
  listCapabilities(query?: { aud?: string }): Promise<CapabilityRecord[]> {
    return this.#trust.listCapabilities(query);
  }
  insertRevocation(record: RevocationRecord): Promise<boolean> {
    return this.#trust.insertRevocation(record);
  }
  listRevocations(): Promise<RevocationRecord[]> {
    return this.#trust.listRevocations();
  }
  insertScriptVersion(record: ScriptRecord): Promise<void> {
    return this.#trust.insertScriptVersion(record);
  }
  getScript(name: string, version?: number): Promise<ScriptRecord | undefined> {
    return this.#trust.getScript(name, version);
  }
  listScripts(): Promise<ScriptRecord[]> {
    return this.#trust.listScripts();
  }
  listScriptVersions(name: string): Promise<ScriptRecord[]> {
    return this.#trust.listScriptVersions(name);
  }
  markScriptRemoved(name: string, at: number): Promise<number> {
    return this.#trust.markScriptRemoved(name, at);
  }
  insertSecret(record: SecretRecord): Promise<boolean> {
    return this.#trust.insertSecret(record);
  }
  putLabelAttestation(record: LabelAttestationRecord): Promise<boolean> {
    return this.#trust.putLabelAttestation(record);
  }
  getLabelAttestation(nodeId: string): Promise<LabelAttestationRecord | undefined> {
    return this.#trust.getLabelAttestation(nodeId);
  }
  listLabelAttestations(): Promise<LabelAttestationRecord[]> {
    return this.#trust.listLabelAttestations();
  }
  getSecret(id: string): Promise<SecretRecord | undefined> {
    return this.#trust.getSecret(id);
  }
  replaceSecret(id: string, expectedSealed: string, sealed: string): Promise<boolean> {
    return this.#trust.replaceSecret(id, expectedSealed, sealed);
  }
  listSecretIds(): Promise<string[]> {
    return this.#trust.listSecretIds();
  }

  /** Newest first (by id, i.e. append order); `since` is inclusive on `at`. */
  async listAudit(query: ListAuditQuery): Promise<AuditEntry[]> {
    const q = query ?? {};
    let select = this.db.selectFrom('audit_log').selectAll();
    if (q.actor !== undefined) select = select.where('actor', '=', checkText('actor', q.actor));
    if (q.action !== undefined) select = select.where('action', '=', checkText('action', q.action));
    if (q.since !== undefined) select = select.where('at', '>=', checkInt('since', q.since));
    const rows = await select.orderBy('id', 'desc').limit(checkLimit(q.limit)).execute();
    return rows.map(rowToAudit);
  }

  // ---- health (SQL in health-queries.ts) ----

  applyStateChange(change: StateChange): Promise<number> {
    return healthQueries.applyStateChange(this.db, change);
  }

  listStateMarks(): Promise<StateMarkRecord[]> {
    return healthQueries.listStateMarks(this.db);
  }

  saveFindings(change: FindingsChange): Promise<void> {
    return healthQueries.saveFindings(this.db, change);
  }

  listFindings(): Promise<HealthFindingRecord[]> {
    return healthQueries.listFindings(this.db);
  }

  appendHealthEvents(events: ReadonlyArray<HealthEventInput>): Promise<void> {
    return healthQueries.appendHealthEvents(this.db, events);
  }

  listHealthEvents(query: ListHealthEventsQuery): Promise<HealthEventRecord[]> {
    return healthQueries.listHealthEvents(this.db, query);
  }

  // ---- runs (SQL in run-queries.ts) ----

  insertRun(run: RunRecord, targets: ReadonlyArray<RunTargetRecord>): Promise<void> {
    return runQueries.insertRun(this.db, run, targets);
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return runQueries.getRun(this.db, id);
  }

  listRuns(query: ListRunsQuery): Promise<RunRecord[]> {
    return runQueries.listRuns(this.db, query);
  }

  listRunTargets(runId: string): Promise<RunTargetRecord[]> {
    return runQueries.listRunTargets(this.db, runId);
  }

  saveRunProgress(progress: RunProgress): Promise<number> {
    return runQueries.saveRunProgress(this.db, progress);
  }

  listRunOutput(query: ListRunOutputQuery): Promise<RunOutputRecord[]> {
    return runQueries.listRunOutput(this.db, query);
  }

  // ---- workloads (SQL in job-queries.ts, allocation-queries.ts, alloc-output-queries.ts) ----

  addJobVersion(input: Omit<JobVersionRecord, 'version' | 'status'> & { kind: JobRecord['kind']; at: number }): Promise<number> {
    return jobQueries.addJobVersion(this.db, input);
  }

  getJob(name: string): Promise<JobRecord | undefined> {
    return jobQueries.getJob(this.db, name);
  }

  listJobs(): Promise<JobRecord[]> {
    return jobQueries.listJobs(this.db);
  }

  listJobVersions(job: string): Promise<JobVersionRecord[]> {
    return jobQueries.listJobVersions(this.db, job);
  }

  getJobVersion(job: string, version: number): Promise<JobVersionRecord | undefined> {
    return jobQueries.getJobVersion(this.db, job, version);
  }

  updateJob(name: string, patch: Partial<Pick<JobRecord, 'state' | 'currentVersion' | 'stoppedAt' | 'updatedAt'>>): Promise<void> {
    return jobQueries.updateJob(this.db, name, patch);
  }

  setJobVersionStatus(job: string, version: number, status: JobVersionRecord['status']): Promise<void> {
    return jobQueries.setJobVersionStatus(this.db, job, version, status);
  }

  purgeJob(name: string): Promise<void> {
    return jobQueries.purgeJob(this.db, name);
  }

  upsertDeployment(d: DeploymentRecord): Promise<void> {
    return jobQueries.upsertDeployment(this.db, d);
  }

  latestDeployment(job: string): Promise<DeploymentRecord | undefined> {
    return jobQueries.latestDeployment(this.db, job);
  }

  commitPlan(plan: PlanCommit): Promise<{ ok: true } | { ok: false; conflicts: PlanConflict[] }> {
    return allocationQueries.commitPlan(this.db, plan);
  }

  updateAllocation(id: string, patch: AllocationPatch): Promise<void> {
    return allocationQueries.updateAllocation(this.db, id, patch);
  }

  endAllocation(id: string, patch: AllocationPatch): Promise<void> {
    return allocationQueries.endAllocation(this.db, id, patch);
  }

  getAllocation(id: string): Promise<AllocationRecord | undefined> {
    return allocationQueries.getAllocation(this.db, id);
  }

  listAllocations(query: ListAllocationsQuery): Promise<AllocationRecord[]> {
    return allocationQueries.listAllocations(this.db, query);
  }

  listGpuClaims(): Promise<GpuClaimRecord[]> {
    return allocationQueries.listGpuClaims(this.db);
  }

  appendAllocOutput(chunks: ReadonlyArray<AllocOutputInput>): Promise<void> {
    return allocOutputQueries.appendAllocOutput(this.db, chunks);
  }

  listAllocOutput(allocId: string, afterId: number, limit: number): Promise<AllocOutputRecord[]> {
    return allocOutputQueries.listAllocOutput(this.db, allocId, afterId, limit);
  }

  trimAllocOutput(allocId: string, keepBytes: number): Promise<number> {
    return allocOutputQueries.trimAllocOutput(this.db, allocId, keepBytes);
  }

  // ---- pools (SQL in pool-queries.ts) ----

  replacePoolsConfig(providers: ProviderConfigRecord[], pools: PoolConfigRecord[]): Promise<void> {
    return poolQueries.replacePoolsConfig(this.db, this.kind, providers, pools);
  }

  listProviderConfigs(): Promise<ProviderConfigRecord[]> {
    return poolQueries.listProviderConfigs(this.db);
  }

  listPoolConfigs(): Promise<PoolConfigRecord[]> {
    return poolQueries.listPoolConfigs(this.db);
  }

  getPoolState(pool: string): Promise<PoolStateRecord | undefined> {
    return poolQueries.getPoolState(this.db, pool);
  }

  putPoolState(state: PoolStateRecord): Promise<void> {
    return poolQueries.putPoolState(this.db, state);
  }

  putPoolMember(member: PoolMemberRecord): Promise<void> {
    return poolQueries.putPoolMember(this.db, member);
  }

  listPoolMembers(query: { pool?: string; includeTerminated?: boolean }): Promise<PoolMemberRecord[]> {
    return poolQueries.listPoolMembers(this.db, query);
  }

  insertPoolOperation(op: PoolOperationRecord): Promise<void> {
    return poolQueries.insertPoolOperation(this.db, op);
  }

  updatePoolOperation(id: string, expectedStage: PoolOpStage, patch: PoolOperationPatch): Promise<boolean> {
    return poolQueries.updatePoolOperation(this.db, id, expectedStage, patch);
  }

  getPoolOperation(id: string): Promise<PoolOperationRecord | undefined> {
    return poolQueries.getPoolOperation(this.db, id);
  }

  listPoolOperations(query: { pool?: string; active?: boolean; limit?: number }): Promise<PoolOperationRecord[]> {
    return poolQueries.listPoolOperations(this.db, query);
  }

  appendPoolEvents(events: ReadonlyArray<Omit<PoolEventRecord, 'id'>>): Promise<number[]> {
    return poolQueries.appendPoolEvents(this.db, this.kind, events);
  }

  listPoolEvents(query: { pool?: string; after?: number; limit?: number; newest?: boolean }): Promise<PoolEventRecord[]> {
    return poolQueries.listPoolEvents(this.db, query);
  }

  appendPoolSizeSample(sample: PoolSizeSample): Promise<void> {
    return poolQueries.appendPoolSizeSample(this.db, sample);
  }

  listPoolSizeSamples(pool: string, since: number): Promise<PoolSizeSample[]> {
    return poolQueries.listPoolSizeSamples(this.db, pool, since);
  }

  prunePoolSizeSamples(before: number): Promise<number> {
    return poolQueries.prunePoolSizeSamples(this.db, before);
  }

  getProviderState(provider: string, key: string): Promise<unknown | undefined> {
    return poolQueries.getProviderState(this.db, provider, key);
  }

  putProviderState(provider: string, key: string, value: unknown): Promise<void> {
    return poolQueries.putProviderState(this.db, provider, key, value);
  }

  deleteProviderState(provider: string, key: string): Promise<void> {
    return poolQueries.deleteProviderState(this.db, provider, key);
  }

  listProviderState(provider: string): Promise<Array<{ key: string; value: unknown }>> {
    return poolQueries.listProviderState(this.db, provider);
  }

  // ---- SSH hosts (SQL in ssh-host-queries.ts) ----

  insertSshHost(host: SshHostRecord, credentials: ReadonlyArray<SshCredentialRecord>): Promise<void> {
    return sshHostQueries.insertSshHost(this.db, host, credentials);
  }

  getSshHost(nodeId: string): Promise<SshHostRecord | undefined> {
    return sshHostQueries.getSshHost(this.db, nodeId);
  }

  listSshHosts(): Promise<SshHostRecord[]> {
    return sshHostQueries.listSshHosts(this.db);
  }

  updateSshHost(nodeId: string, patch: SshHostPatch): Promise<void> {
    return sshHostQueries.updateSshHost(this.db, nodeId, patch);
  }

  deleteSshHost(nodeId: string): Promise<boolean> {
    return sshHostQueries.deleteSshHost(this.db, nodeId);
  }

  listSshCredentials(query?: { nodeId?: string }): Promise<SshCredentialRecord[]> {
    return sshHostQueries.listSshCredentials(this.db, query);
  }

  resealSshCredential(id: string, sealed: string, keyVersion: number, rotatedAt: number): Promise<boolean> {
    return sshHostQueries.resealSshCredential(this.db, id, sealed, keyVersion, rotatedAt);
  }

  deleteSealedNodeKey(nodeId: string): Promise<boolean> {
    return deleteSealedNodeKey(this.db, nodeId);
  }

  // ---- node groups and variables (SQL in group-queries.ts) ----

  insertGroup(group: GroupRecord): Promise<void> {
    return groupQueries.insertGroup(this.db, group);
  }

  getGroup(name: string): Promise<GroupRecord | undefined> {
    return groupQueries.getGroup(this.db, name);
  }

  listGroups(): Promise<GroupRecord[]> {
    return groupQueries.listGroups(this.db);
  }

  updateGroup(name: string, patch: GroupPatch, members?: { add?: readonly string[]; remove?: readonly string[] }): Promise<void> {
    return groupQueries.updateGroup(this.db, name, patch, members);
  }

  deleteGroup(name: string): Promise<boolean> {
    return groupQueries.deleteGroup(this.db, name);
  }

  changeVars(change: VarsChange): Promise<void> {
    return groupQueries.changeVars(this.db, change);
  }

  listVars(query?: { scope?: VarRecordScope; target?: string }): Promise<VarRecord[]> {
    return groupQueries.listVars(this.db, query);
  }

  forgetNodeInGroups(nodeId: string): Promise<void> {
    return groupQueries.forgetNodeInGroups(this.db, nodeId);
  }

  // ---- playbook templates and plays (SQL in play-queries.ts) ----

  insertTemplate(template: TemplateRecord): Promise<void> {
    return playQueries.insertTemplate(this.db, template);
  }

  getTemplate(name: string, version?: number): Promise<TemplateRecord | undefined> {
    return playQueries.getTemplate(this.db, name, version);
  }

  listTemplates(): Promise<TemplateRecord[]> {
    return playQueries.listTemplates(this.db);
  }

  listTemplateVersions(name: string): Promise<number[]> {
    return playQueries.listTemplateVersions(this.db, name);
  }

  insertPlay(play: PlayRecord, hosts: ReadonlyArray<PlayHostRecord>): Promise<void> {
    return playQueries.insertPlay(this.db, play, hosts);
  }

  getPlay(id: string): Promise<PlayRecord | undefined> {
    return playQueries.getPlay(this.db, id);
  }

  listPlays(query?: ListPlaysQuery): Promise<PlayRecord[]> {
    return playQueries.listPlays(this.db, query);
  }

  updatePlay(id: string, patch: PlayPatch): Promise<void> {
    return playQueries.updatePlay(this.db, id, patch);
  }

  updatePlayWhile(id: string, when: PlayCondition, patch: PlayPatch): Promise<boolean> {
    return playQueries.updatePlayWhile(this.db, id, when, patch);
  }

  listPlayHosts(playId: string): Promise<PlayHostRecord[]> {
    return playQueries.listPlayHosts(this.db, playId);
  }

  updatePlayHost(host: PlayHostRecord): Promise<void> {
    return playQueries.updatePlayHost(this.db, host);
  }

  appendPlayEvents(events: ReadonlyArray<PlayEventRecord>): Promise<void> {
    return playQueries.appendPlayEvents(this.db, events);
  }

  listPlayEvents(playId: string, after: number, limit?: number): Promise<PlayEventRecord[]> {
    return playQueries.listPlayEvents(this.db, playId, after, limit);
  }

  // ---- signed releases (SQL in release-queries.ts) ----

  commitRelease(commit: ReleaseCommit): Promise<void> {
    return releaseQueries.commitRelease(this.db, commit);
  }

  getReleaseMetadata(role: ReleaseRole, version?: number): Promise<ReleaseMetadataRecord | undefined> {
    return releaseQueries.getReleaseMetadata(this.db, role, version);
  }

  getReleaseBlob(sha256: string): Promise<ReleaseBlobRecord | undefined> {
    return releaseQueries.getReleaseBlob(this.db, sha256);
  }

  releaseBlobLengths(sha256s: ReadonlyArray<string>): Promise<Array<{ sha256: string; length: number }>> {
    return releaseQueries.releaseBlobLengths(this.db, sha256s);
  }

  listReleaseTargets(): Promise<ReleaseTargetRecord[]> {
    return releaseQueries.listReleaseTargets(this.db);
  }

  // ---- rollouts (SQL in rollout-queries.ts) ----

  insertRollout(rollout: RolloutRecord, hosts: ReadonlyArray<RolloutHostRecord>): Promise<void> {
    return rolloutQueries.insertRollout(this.db, rollout, hosts);
  }

  getRollout(id: string): Promise<RolloutRecord | undefined> {
    return rolloutQueries.getRollout(this.db, id);
  }

  listRollouts(query?: { states?: ReadonlyArray<RolloutState>; limit?: number }): Promise<RolloutRecord[]> {
    return rolloutQueries.listRollouts(this.db, query);
  }

  updateRollout(id: string, patch: RolloutPatch): Promise<void> {
    return rolloutQueries.updateRollout(this.db, id, patch);
  }

  listRolloutHosts(rolloutId: string): Promise<RolloutHostRecord[]> {
    return rolloutQueries.listRolloutHosts(this.db, rolloutId);
  }

  updateRolloutHosts(rolloutId: string, changes: ReadonlyArray<{ nodeId: string; patch: RolloutHostPatch }>): Promise<void> {
    return rolloutQueries.updateRolloutHosts(this.db, rolloutId, changes);
  }

  rolloutHostsOfNode(nodeId: string, states: ReadonlyArray<RolloutHostState>): Promise<RolloutHostRecord[]> {
    return rolloutQueries.rolloutHostsOfNode(this.db, nodeId, states);
  }

  appendRolloutEvents(events: ReadonlyArray<RolloutEventInput>): Promise<void> {
    return rolloutQueries.appendRolloutEvents(this.db, events);
  }

  listRolloutEvents(rolloutId: string, after?: number, limit?: number): Promise<RolloutEventRecord[]> {
    return rolloutQueries.listRolloutEvents(this.db, rolloutId, after, limit);
  }

  // ---- settings ----

  async getSetting(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', checkId('key', key)).executeTakeFirst();
    return row?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    const row = { key: checkId('key', key), value: checkText('value', value) };
    await this.db
      .insertInto('settings')
      .values(row)
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: (eb) => eb.ref('excluded.value') }))
      .execute();
  }
}
