import { soleHolder } from '../../replicas/leases.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enrollmentMessage, generateEd25519, parsePoolsFile, signEd25519, type HealthVerdict, type PoolsConfig } from '@gpufleet/protocol';
import { EventHub } from '../../events/event-hub.js';
import { AuditLog } from '../../services/audit-log.js';
import { EnrollmentService } from '../../services/enrollment.js';
import { JoinTokenService } from '../../services/join-tokens.js';
import { NodeDrains } from '../../services/node-drains.js';
import { NodeRegistry } from '../../services/node-registry.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore } from '../../store/open-store.js';
import { openPostgresStore } from '../../store/postgres-store.js';
import type { Store } from '../../store/store.js';
import { testGpu, testHostFacts } from '../../testing/fake-host.js';
import { tokenParts } from '../../testing/protocol-client.js';
import { ManualClock } from '../../testing/test-server.js';
import { PoolManager } from '../pool-manager.js';
import type { PendingSlots } from '../pools-api.js';
import { ScriptedCloud } from './scripted-provider.js';
import { NO_OTHER_REPLICAS } from '../../replicas/session-owners.js';

const PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
export type StoreKind = 'sqlite' | 'postgres';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/**
 * The pool manager on real parts (SQLite store, registry and node state machine, join tokens,
 * enrollment, drains) with a scripted cloud. Health verdicts, the work on each node and pending
 * slots are set by the test (the health engine, runs and workloads have tests of their own).
 */
export class PoolHarness {
  readonly clock = new ManualClock(Date.UTC(2026, 0, 5, 12, 0, 0));
  readonly hub = new EventHub();
  readonly verdicts = new Map<string, HealthVerdict>();
  /** Allocations and runs on each node. */
  readonly work = new Map<string, number>();
  readonly allocated = new Map<string, number>();
  pending: PendingSlots[] = [];
  readonly cloud: ScriptedCloud;
  registry!: NodeRegistry;
  drains!: NodeDrains;
  joinTokens!: JoinTokenService;
  enrollment!: EnrollmentService;
  private hostSeq = 0;

  private constructor(
    readonly store: Store,
    readonly dir: string,
    private readonly pgSchema: string | null,
  ) {
    this.cloud = new ScriptedCloud((req, instanceId) => this.enrollHost(req.joinToken, `host-${++this.hostSeq}-${instanceId}`));
  }

  /** On the embedded SQLite store, or on PostgreSQL (a schema of its own at PG_URL, dropped on close). */
  static async open(kind: StoreKind = 'sqlite'): Promise<PoolHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-pools-'));
    const schema = kind === 'postgres' ? `gf_pools_${randomBytes(6).toString('hex')}` : null;
    const store = schema === null ? await openStore({ database: null, dataDir: dir }) : await openPostgresStore({ url: PG_URL, schema });
    await store.migrate();
    const h = new PoolHarness(store, dir, schema);
    await h.wire();
    return h;
  }

  /** A fresh registry and services on the same store (what a restarted server has). */
  async wire(): Promise<void> {
    const { store, clock, hub } = this;
    this.registry = new NodeRegistry({
      remoteSessions: NO_OTHER_REPLICAS,
      store,
      clock,
      hub,
      offlineAfterMs: 3_600_000,
      latestMetrics: () => null,
      drainTimeoutMs: 600_000,
    });
    await this.registry.load();
    for (const n of this.registry.all()) if (n.adminState !== 'decommissioned') this.registry.seen(n.id);
    this.joinTokens = new JoinTokenService({ store, clock, serverUrl: () => 'http://127.0.0.1:7420', caFingerprint: null, roots: () => [] });
    this.enrollment = new EnrollmentService(this.registry, this.joinTokens, new AuditLog(store, clock), clock, 5000);
    this.drains = new NodeDrains({ states: this.registry.states, runningWork: [{ runningOn: (id) => this.work.get(id) ?? 0 }], clock, hub, log: quiet });
  }

  manager(reconcileMs = 3_600_000): PoolManager {
    return new PoolManager({
      store: this.store,
      lease: soleHolder('pools'),
      registry: this.registry,
      drains: this.drains,
      health: { verdictOf: (id) => this.verdicts.get(id) ?? 'healthy' },
      runningWork: [{ runningOn: (id) => this.work.get(id) ?? 0 }],
      demand: { pendingSlots: () => this.pending },
      allocatedGpus: (id) => this.allocated.get(id) ?? 0,
      joinTokens: this.joinTokens,
      factories: { sim: this.cloud.factory },
      hub: this.hub,
      clock: this.clock,
      log: quiet,
      audit: new AuditLog(this.store, this.clock),
      masterKey: null,
      env: {},
      reconcileMs,
    });
  }

  /** A host enrolls with the token through the real enrollment service and comes online (READY). */
  async enrollHost(token: string, hostname: string): Promise<string> {
    const [tokenId, secret] = tokenParts(token);
    const key = generateEd25519();
    const res = await this.enrollment.enroll({
      tokenId,
      secret,
      nodeId: key.did,
      signature: signEd25519(key.privateKeyPem, enrollmentMessage(tokenId, key.did)),
      host: testHostFacts(hostname),
      gpus: Array.from({ length: 8 }, (_, i) => testGpu(i)),
    });
    this.registry.seen(res.nodeId);
    return res.nodeId;
  }

  /** Node status by instance (through the pool's members). */
  async nodeOf(instanceId: string): Promise<string | null> {
    const members = await this.store.listPoolMembers({ includeTerminated: true });
    return members.find((m) => m.instanceId === instanceId)?.nodeId ?? null;
  }

  async eventKinds(pool: string): Promise<string[]> {
    return (await this.store.listPoolEvents({ pool, limit: 1000 })).map((e) => e.kind);
  }

  async close(): Promise<void> {
    await this.drains.stop();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
    if (this.pgSchema !== null) {
      const raw = new pg.Client({ connectionString: PG_URL });
      await raw.connect();
      await raw.query(`drop schema if exists "${this.pgSchema}" cascade`);
      await raw.end();
    }
  }
}

/** A pools file with one sim pool `train`, read by the real parser; `pool` adds YAML lines to the pool. */
export function simPools(pool: string): PoolsConfig {
  const lines = pool
    .trim()
    .split('\n')
    .map((l) => `    ${l.trim()}`)
    .join('\n');
  return parsePoolsFile(`providers:\n  cloud: { type: sim }\npools:\n  train:\n    provider: cloud\n    instance_type: sim.h100x8\n${lines}\n`);
}
