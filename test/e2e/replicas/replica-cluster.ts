import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ChildServer } from '../support/child-server.js';
import type { Cleanups } from '../support/cleanups.js';
import { freePort } from '../support/free-port.js';
import { apiClient, type ApiCall } from '../support/http-json.js';

/** PostgreSQL and NATS of this machine and of CI, as the store and bus tests use them. */
const PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_URL = process.env.GPUFLEET_TEST_NATS ?? 'nats://127.0.0.1:4222';

/** One started replica: its name, process and an admin client. */
export interface Replica {
  name: string;
  server: ChildServer;
  api: ApiCall;
}

/**
 * Several `gpufleet server` processes (the built CLI) forming one control plane: a PostgreSQL
 * database made for this run, a bus namespace of its own on the shared NATS, and one master key.
 * Everything it makes is registered with the test's Cleanups: processes, data dirs, the database
 * (dropped WITH FORCE) and the namespace's JetStream streams and KV buckets.
 */
export class ReplicaCluster {
  readonly namespace = `e2e_${randomBytes(4).toString('hex')}`;
  readonly database = `gpufleet_e2e_replicas_${randomBytes(4).toString('hex')}`;
  readonly storeUrl: string;
  /** The same on every replica: the control plane key is sealed with it in the shared store. */
  private readonly masterKey = randomBytes(24).toString('base64url');
  readonly replicas: Replica[] = [];
  adminToken = '';

  constructor(
    private readonly cleanups: Cleanups,
    private readonly flags: string[],
  ) {
    const url = new URL(PG_URL);
    url.pathname = `/${this.database}`;
    this.storeUrl = url.toString();
  }

  /** Creates the database and registers its removal and the bus namespace's. */
  async create(): Promise<void> {
    await adminSql(`CREATE DATABASE ${this.database}`);
    this.cleanups.add('database', () => adminSql(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`));
    this.cleanups.add('bus namespace', () => deleteNamespace(this.namespace));
  }

  /** A child server with its own data dir and port (not started); `flags` replace the replica flags. */
  async child(flags: string[]): Promise<{ server: ChildServer; dataDir: string }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-replica-'));
    this.cleanups.add('replica data dir', () => rmSync(dataDir, { recursive: true, force: true }));
    const server = new ChildServer({ port: await freePort(), dataDir, flags, env: { GPUFLEET_MASTER_KEY: this.masterKey } });
    this.cleanups.add('replica process', () => server.stop(2000));
    return { server, dataDir };
  }

  /** The replica flags for `name`, for a start that is meant to work or to be refused. */
  replicaFlags(name: string): string[] {
    return ['--store', this.storeUrl, '--bus', NATS_URL, '--bus-namespace', this.namespace, '--replica-name', name, ...this.flags];
  }

  /** Starts a replica; the first one migrates the database and leaves the admin token in its data dir. */
  async start(name: string): Promise<Replica> {
    const { server, dataDir } = await this.child(this.replicaFlags(name));
    await server.start(30_000);
    if (this.adminToken === '') this.adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const replica = { name, server, api: apiClient(server.url, this.adminToken) };
    this.replicas.push(replica);
    return replica;
  }

  /** The replicas whose process is running. */
  get live(): Replica[] {
    return this.replicas.filter((r) => r.server.running);
  }
}

async function adminSql(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Deletes the namespace's streams (KV buckets are streams named KV_<bucket>). The NATS client is
 * the server package's dependency, so it is loaded from there.
 */
async function deleteNamespace(namespace: string): Promise<void> {
  const serverRequire = createRequire(fileURLToPath(new URL('../../../packages/server/package.json', import.meta.url)));
  const { connect } = serverRequire('@nats-io/transport-node');
  const { jetstreamManager } = serverRequire('@nats-io/jetstream');
  const nc = await connect({ servers: NATS_URL, name: 'gpufleet-e2e-replicas-cleanup' });
  try {
    const jsm = await jetstreamManager(nc);
    const doomed: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(`${namespace}_`) || name.startsWith(`KV_${namespace}_`)) doomed.push(name);
    await Promise.all(doomed.map((name) => jsm.streams.delete(name)));
  } finally {
    await nc.close();
  }
}
