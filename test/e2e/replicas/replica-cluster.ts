import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ChildServer } from '../support/child-server.js';
import type { Cleanups } from '../support/cleanups.js';
import { freePort } from '../support/free-port.js';
import { apiClient, type ApiCall } from '../support/http-json.js';
import { sleep } from '../support/wait-for.js';

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
    /** The NATS the replicas use (default the shared one): a test may run its own to restart it. */
    readonly natsUrl: string = NATS_URL,
    /** Where the replicas listen: 0.0.0.0 makes them serve https with the CA they share (see ChildServer). */
    readonly listenHost = '127.0.0.1',
  ) {
    const url = new URL(PG_URL);
    url.pathname = `/${this.database}`;
    this.storeUrl = url.toString();
  }

  /** Creates the database and registers its removal and the bus namespace's. */
  async create(): Promise<void> {
    await adminSql(`CREATE DATABASE ${this.database}`);
    this.cleanups.add('database', () => adminSql(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`));
    this.cleanups.add('bus namespace', () => deleteNamespace(this.namespace, this.natsUrl));
  }

  /** A child server with its own data dir and port (not started); `flags` replace the replica flags. */
  async child(flags: string[]): Promise<{ server: ChildServer; dataDir: string }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-replica-'));
    this.cleanups.add('replica data dir', () => rmSync(dataDir, { recursive: true, force: true }));
    const server = new ChildServer({
      port: await freePort(this.listenHost),
      dataDir,
      flags,
      env: { GPUFLEET_MASTER_KEY: this.masterKey },
      listenHost: this.listenHost,
    });
    this.cleanups.add('replica process', () => server.stop(2000));
    return { server, dataDir };
  }

  /** The replica flags for `name`, for a start that is meant to work or to be refused. */
  replicaFlags(name: string): string[] {
    return ['--store', this.storeUrl, '--bus', this.natsUrl, '--bus-namespace', this.namespace, '--replica-name', name, ...this.flags];
  }

  /** Starts a replica; the first one migrates the database and leaves the admin token in its data dir. */
  async start(name: string): Promise<Replica> {
    const { server, dataDir } = await this.child(this.replicaFlags(name));
    await server.start(30_000);
    if (this.adminToken === '') this.adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const replica = { name, server, api: apiClient(server.url, this.adminToken, server.caPem()) };
    this.replicas.push(replica);
    return replica;
  }

  /** The replicas whose process is running. */
  get live(): Replica[] {
    return this.replicas.filter((r) => r.server.running);
  }
}

/** The nats-server binary a test runs of its own (GPUFLEET_TEST_NATS_SERVER overrides it). */
export const NATS_SERVER_BIN = process.env.GPUFLEET_TEST_NATS_SERVER ?? '/usr/sbin/nats-server';

/**
 * A nats-server of the test's own, JetStream on with a file store, on a free port: it can be
 * stopped and started again on the same port and store dir, which the shared NATS cannot.
 */
export class OwnNats {
  private proc: ChildProcess | null = null;
  private exited: Promise<unknown> | null = null;
  /** stdout and stderr of every run (the last 64 KiB). */
  output = '';

  private constructor(
    private readonly port: number,
    private readonly monitorPort: number,
    readonly storeDir: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Ports and a store dir, the process stopped and the dir removed in teardown (not started). */
  static async create(cleanups: Cleanups): Promise<OwnNats> {
    const nats = new OwnNats(await freePort(), await freePort(), mkdtempSync(join(tmpdir(), 'gpufleet-e2e-nats-')));
    cleanups.add('nats-server store dir', () => rmSync(nats.storeDir, { recursive: true, force: true }));
    cleanups.add('nats-server process', () => nats.stop('SIGKILL'));
    return nats;
  }

  /** Starts it and resolves once its /healthz says JetStream is up. */
  async start(timeoutMs = 15_000): Promise<void> {
    const args = ['-a', '127.0.0.1', '-p', String(this.port), '-m', String(this.monitorPort), '-js', '-sd', this.storeDir];
    const proc = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-65_536);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let gone = false;
    this.exited = new Promise((res) => {
      proc.once('exit', res);
      // Not started at all (no such binary): no exit event follows.
      proc.once('error', (err) => res(keep(Buffer.from(`${err.message}\n`))));
    }).finally(() => (gone = true));
    this.proc = proc;
    const health = apiClient(`http://127.0.0.1:${this.monitorPort}`, null);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (gone) throw new Error(`${NATS_SERVER_BIN} exited during start-up:\n${this.output}`);
      try {
        if ((await health('GET', '/healthz')).status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (performance.now() > deadline) throw new Error(`${NATS_SERVER_BIN} not healthy within ${timeoutMs} ms:\n${this.output}`);
      await sleep(50);
    }
  }

  /** Sends a signal and waits for the process to be gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) proc.kill(signal);
    await this.exited;
    this.proc = null;
  }
}

/**
 * The pid of a running child server (to SIGSTOP it, say): ChildServer keeps its process to
 * itself, so it is found in /proc as this process's child listening on the server's port (Linux).
 */
export function pidOf(server: ChildServer): number {
  const listen = `127.0.0.1:${new URL(server.url).port}`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      // The field after the parenthesised command name: state, then the parent's pid.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[1]);
      if (ppid === process.pid && argv.includes('server') && argv[argv.indexOf('--listen') + 1] === listen) return Number(entry);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  throw new Error(`no child process of ${process.pid} listens on ${listen}`);
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
async function deleteNamespace(namespace: string, natsUrl: string): Promise<void> {
  const serverRequire = createRequire(fileURLToPath(new URL('../../../packages/server/package.json', import.meta.url)));
  const { connect } = serverRequire('@nats-io/transport-node');
  const { jetstreamManager } = serverRequire('@nats-io/jetstream');
  const nc = await connect({ servers: natsUrl, name: 'gpufleet-e2e-replicas-cleanup' });
  try {
    const jsm = await jetstreamManager(nc);
    const doomed: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(`${namespace}_`) || name.startsWith(`KV_${namespace}_`)) doomed.push(name);
    await Promise.all(doomed.map((name) => jsm.streams.delete(name)));
  } finally {
    await nc.close();
  }
}
