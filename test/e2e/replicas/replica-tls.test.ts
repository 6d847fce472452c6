import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJoinToken, type ReplicaView } from '@gpufleet/protocol';
import { CA_FILE, certificateFingerprint } from '@gpufleet/agent';
import { ensureServerTls } from '../../../packages/server/src/tls/index.js';
import { assertBuilt } from '../support/child-server.js';
import { Cleanups } from '../support/cleanups.js';
import { apiClient } from '../support/http-json.js';
import { waitFor } from '../support/wait-for.js';
import { AGENT_BIN, assertAgentBuilt } from '../updates/agent-fleet.js';
import { NATS_URL, ReplicaCluster, type Replica } from './replica-cluster.js';

/*
 * Replicas serving TLS (the built CLI over PostgreSQL and NATS, listening on 0.0.0.0 so each
 * makes its https listener): one CA sealed in the store with the master key, a serving
 * certificate of each replica's own, and a real `gpufleet-agent` process whose join token pins
 * that CA and lists both replicas. SIGKILL the replica holding it: it reconnects to the other
 * over TLS with the same pin. Before, each replica made a CA in its own data dir, the token
 * pinned one of them, and the agent could not move.
 */
const FLAGS = ['--heartbeat-interval', '500ms', '--offline-after', '3', '--metrics-interval', '500ms'];
const run = promisify(execFile);

/** The certificates a replica serves: its leaf and the top of the chain it sends (the CA), as fingerprints. */
function servedChain(url: string, ca: string): Promise<{ leaf: string; top: string; names: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port), ca, servername: undefined }, () => {
      const leaf = socket.getPeerCertificate(true);
      let top: DetailedPeerCertificate = leaf;
      while (top.issuerCertificate && top.issuerCertificate !== top) top = top.issuerCertificate;
      const hex = (c: DetailedPeerCertificate) => c.fingerprint256.replaceAll(':', '').toLowerCase();
      resolve({ leaf: hex(leaf), top: hex(top), names: leaf.subjectaltname ?? '' });
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** A host running the built agent (`gpufleet-agent join`, then `gpufleet-agent run`) as its own process. */
class AgentProcess {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-tls-agent-'));
  nodeId = '';
  output = '';
  private proc: ChildProcess | null = null;

  constructor(readonly hostname: string) {}

  async join(token: string): Promise<void> {
    const { stdout } = await run(process.execPath, [AGENT_BIN, 'join', token, '--data-dir', this.dataDir, '--hostname', this.hostname]);
    const id = /node id: (\S+)/.exec(stdout)?.[1];
    if (!id) throw new Error(`join printed no node id:\n${stdout}`);
    this.nodeId = id;
  }

  start(): void {
    const args = [
      'run',
      '--data-dir',
      this.dataDir,
      '--hostname',
      this.hostname,
      '--kernel-log',
      'off',
      '--commands',
      'off',
      '--workloads',
      'off',
      '--updates',
      'off',
    ];
    const proc = spawn(process.execPath, [AGENT_BIN, ...args], { cwd: this.dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-200_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.proc = proc;
  }

  /** The URLs it connected to, in order, from its log ("connected to the server"). */
  connections(): string[] {
    const urls: string[] = [];
    for (const line of this.output.split('\n')) {
      if (!line.includes('"connected to the server"')) continue;
      urls.push((JSON.parse(line) as { url: string }).url);
    }
    return urls;
  }

  async dispose(): Promise<void> {
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((res) => proc.once('exit', res));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function replicasOf(r: Replica): Promise<ReplicaView[]> {
  const res = await r.api('GET', '/api/v1/replicas');
  if (res.status !== 200) throw new Error(`${r.name} GET /api/v1/replicas: ${res.status} ${res.text}`);
  return res.body.replicas as ReplicaView[];
}

describe('e2e replicas over TLS: one CA sealed in the store, an agent moving between replicas with its pin', () => {
  const cleanups = new Cleanups();
  const cluster = new ReplicaCluster(cleanups, FLAGS, NATS_URL, '0.0.0.0');
  beforeAll(async () => {
    assertBuilt();
    assertAgentBuilt();
    await cluster.create();
    for (const name of ['cp-1', 'cp-2']) await cluster.start(name);
  }, 90_000);
  afterAll(() => cleanups.run(), 30_000);

  it('both replicas serve under one CA with their own certificates; the agent reconnects to the survivor over TLS', async () => {
    const [r1, r2] = cluster.replicas as [Replica, Replica];
    for (const r of [r1, r2]) expect(r.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    // The CA each replica hands out (/v1/ca.pem) and pins in its join tokens: the same one.
    const caPem = (await r1.api('GET', '/v1/ca.pem')).text;
    const fingerprint = certificateFingerprint(caPem);
    expect((await r2.api('GET', '/v1/ca.pem')).text).toBe(caPem);
    const urls = [r1.server.url, r2.server.url];
    const tokens = await Promise.all(
      [r1, r2].map(async (r) => {
        const created = await r.api('POST', '/api/v1/join-tokens', { description: `replica tls ${r.name}`, reusable: true, serverUrls: urls });
        expect(created.status, created.text).toBe(201);
        return created.body.token as string;
      }),
    );
    for (const token of tokens) {
      expect(decodeJoinToken(token).caFingerprint).toBe(fingerprint);
      expect(decodeJoinToken(token).urls).toEqual(urls);
    }

    // Each serves its own leaf, under that CA: a client trusting only cp-1's CA is served by cp-2.
    const chains = await Promise.all(urls.map((url) => servedChain(url, caPem)));
    expect(chains.map((c) => c.top)).toEqual([fingerprint, fingerprint]);
    expect(chains[0]!.leaf).not.toBe(chains[1]!.leaf);
    expect(chains[1]!.names).toContain('IP Address:127.0.0.1');
    const viaR1Ca = await apiClient(r2.server.url, cluster.adminToken, r1.server.caPem())('GET', '/api/v1/replicas');
    expect(viaR1Ca.status, viaR1Ca.text).toBe(200);

    // A real agent joins with the token that lists both; it pins the shared CA.
    const agent = new AgentProcess('e2e-tls-replica-01');
    cleanups.add('agent process', () => agent.dispose());
    await agent.join(tokens[0]!);
    expect(certificateFingerprint(readFileSync(join(agent.dataDir, CA_FILE), 'utf8'))).toBe(fingerprint);
    agent.start();
    const byUrl = (url: string) => cluster.replicas.find((r) => r.server.url === url)!;
    await waitFor('the agent connected', () => agent.connections().length > 0, { timeoutMs: 20_000 });
    const held = byUrl(agent.connections().at(-1)!);
    await waitFor(`${held.name} holds the agent`, async () => (await replicasOf(held)).find((x) => x.name === held.name)?.agents === 1);
    const survivor = held === r1 ? r2 : r1;

    // SIGKILL the replica it holds: the agent reconnects to the other, whose certificate its pin accepts.
    const before = agent.connections().length;
    await held.server.kill('SIGKILL');
    const killedAt = performance.now();
    await waitFor(`the agent reconnected to ${survivor.name}`, () => agent.connections().slice(before).includes(survivor.server.url), {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    const seconds = ((performance.now() - killedAt) / 1000).toFixed(2);
    await waitFor(`${survivor.name} holds the agent and lists the node READY and connected`, async () => {
      const mine = (await replicasOf(survivor)).find((x) => x.name === survivor.name);
      const node = await survivor.api('GET', `/api/v1/nodes/${agent.nodeId}`);
      return mine?.agents === 1 && node.body?.status === 'READY' && node.body?.connected === true;
    });
    console.log(`replica tls: the agent moved from ${held.name} to ${survivor.name} over TLS ${seconds} s after the SIGKILL (CA ${fingerprint.slice(0, 16)}…)`);
    // Never refused a certificate on the way (a CA per replica would fail exactly here).
    expect(agent.output).not.toMatch(/does not match the fingerprint|self.signed|unable to verify|certificate/i);
    expect(certificateFingerprint(readFileSync(join(agent.dataDir, CA_FILE), 'utf8'))).toBe(fingerprint);
  }, 120_000);

  it("a replica started on a data dir holding another CA serves the store's CA and says so in its log", async () => {
    const shared = (await cluster.live[0]!.api('GET', '/v1/ca.pem')).text;
    const { server, dataDir } = await cluster.child(cluster.replicaFlags('cp-3'));
    // A data dir copied from another deployment, with a CA of its own.
    const foreign = await ensureServerTls({ dataDir, hostnames: [], ips: [] });
    expect(foreign.caFingerprint).not.toBe(certificateFingerprint(shared));
    await server.start(30_000);
    const api = apiClient(server.url, cluster.adminToken, shared);
    expect((await api('GET', '/v1/ca.pem')).text).toBe(shared);
    const created = await api('POST', '/api/v1/join-tokens', { description: 'replica tls cp-3' });
    expect(created.status, created.text).toBe(201);
    expect(decodeJoinToken(created.body.token).caFingerprint).toBe(certificateFingerprint(shared));
    expect(server.output).toContain('this data dir held another TLS CA than the one the replicas share in the store');
    expect(server.output).toContain(foreign.caFingerprint.slice(0, 16));
    // Nothing lost: the old CA and its key were moved aside.
    expect(readdirSync(join(dataDir, 'tls')).filter((f) => f.includes('.superseded-')).length).toBe(2);
  }, 60_000);
});
