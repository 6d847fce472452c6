import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetError, type AddSshHostRequest, type MetricsBody } from '@gpufleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventHub } from '../events/event-hub.js';
import { NodeRegistry } from '../services/node-registry.js';
import type { ActionOutcome } from '../services/audit-log.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { sealSecret } from '../trust/secret-box.js';
import { writeFakeGpuTools } from './__tests__/fake-gpu-tools.js';
import { LocalShellTransport } from './__tests__/local-shell-transport.js';
import { CredentialVault, masterKeysFrom } from './credential-vault.js';
import { SshHostsService } from './ssh-hosts-service.js';
import { NO_OTHER_REPLICAS } from '../replicas/session-owners.js';

const KEY_A = { algorithm: 'ssh-ed25519', fingerprint: `SHA256:${'A'.repeat(43)}`, publicKey: 'AAAAC3NzaC1lZDI1NTE5AAAAIA' };
const KEY_B = { algorithm: 'ssh-ed25519', fingerprint: `SHA256:${'B'.repeat(43)}`, publicKey: 'AAAAC3NzaC1lZDI1NTE5AAAAIB' };
const PRIVATE_LINE = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ';

let dir: string;
let store: Store;
let registry: NodeRegistry;
let transport: LocalShellTransport;
let service: SshHostsService;
let notes: ActionOutcome[];
let ingested: Array<{ nodeId: string; body: MetricsBody }>;
let now = 1_700_000_000_000;
const audit = { actor: 'test', note: async (e: ActionOutcome) => void notes.push(e) };

function request(overrides: Partial<AddSshHostRequest> = {}): AddSshHostRequest {
  return {
    hostname: 'gpu-07',
    address: '10.0.0.7',
    port: 22,
    user: 'root',
    login: { kind: 'key', privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${PRIVATE_LINE}\n-----END OPENSSH PRIVATE KEY-----\n` },
    labels: { rack: 'a' },
    ...overrides,
  };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-ssh-service-'));
  store = await openSqliteStore({ path: join(dir, 'db.sqlite') });
  await store.migrate();
  const clock = { now: () => now };
  registry = new NodeRegistry({ remoteSessions: NO_OTHER_REPLICAS, store, clock, hub: new EventHub(), offlineAfterMs: 10_000, latestMetrics: () => null });
  transport = new LocalShellTransport(KEY_A, `${writeFakeGpuTools(join(dir, 'bin'))}:/usr/bin:/bin`);
  notes = [];
  ingested = [];
  service = new SshHostsService({
    store,
    registry,
    transport,
    vault: new CredentialVault(masterKeysFrom({ GPUFLEET_MASTER_KEY: 'test-master-key-0123456789' })),
    metrics: { ingest: (nodeId, body) => void ingested.push({ nodeId, body }) },
    clock,
    log: { info: () => {}, warn: () => {} },
    factsIntervalMs: 60_000,
  });
});
afterEach(async () => {
  await service.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SshHostsService', () => {
  it('adds a host: pins the first key, collects facts, makes an ssh node READY that selectors find, audits', async () => {
    const { host, pinnedNow } = await service.add(request(), audit);
    expect(pinnedNow).toBe(true);
    expect(host.hostKey).toMatchObject({ fingerprint: KEY_A.fingerprint, source: 'first-use' });
    expect(host.reachable).toBe(true);
    const node = registry.get(host.nodeId)!;
    expect(node.mode).toBe('ssh');
    expect(host.nodeId).toMatch(/^did:key:z6Mk/);
    expect(registry.status(node)).toBe('READY');
    expect(node.gpus.map((g) => g.vendor)).toEqual(['nvidia']);
    expect((await registry.list({ selector: 'rack=a,gpu.vendor=nvidia' })).items.map((n) => n.id)).toEqual([host.nodeId]);
    expect(ingested[0]?.body.gpus[0]?.temperatureC).toBeTypeOf('number');
    expect(notes.map((n) => n.action)).toEqual(['ssh-hosts.add']);
    expect(JSON.stringify(notes)).not.toContain(PRIVATE_LINE);
    // The node's own key is kept sealed for a later promote.
    expect((await store.listSshCredentials({ nodeId: host.nodeId })).map((c) => c.purpose).sort()).toEqual(['login', 'node-key']);
  });

  it('refuses a taken hostname, a wrong given fingerprint and an unreachable host, storing nothing', async () => {
    await service.add(request(), audit);
    await expect(service.add(request(), audit)).rejects.toMatchObject({ code: 'already_exists' });
    const mismatch = await service.add(request({ hostname: 'gpu-08', hostKey: KEY_B.fingerprint }), audit).catch((e: FleetError) => e);
    expect(mismatch).toBeInstanceOf(FleetError);
    expect((mismatch as FleetError).message).toContain(KEY_B.fingerprint);
    transport.unreachable = true;
    await expect(service.add(request({ hostname: 'gpu-09' }), audit)).rejects.toMatchObject({ code: 'unavailable' });
    expect((await store.listSshHosts()).length).toBe(1);
    expect(registry.all().map((n) => n.hostname)).toEqual(['gpu-07']);
  });

  it('without a master key, adding says how to set one', async () => {
    const bare = new SshHostsService({
      ...(service as unknown as { o: ConstructorParameters<typeof SshHostsService>[0] }).o,
      vault: new CredentialVault(masterKeysFrom({})),
    });
    await expect(bare.add(request(), audit)).rejects.toThrow(/GPUFLEET_MASTER_KEY/);
  });

  it('an unreachable host becomes UNREACHABLE with the reason, and READY again when it answers', async () => {
    const { host } = await service.add(request(), audit);
    transport.unreachable = true;
    now += 60_000;
    const down = await service.collectFacts('gpu-07');
    expect(down.reachable).toBe(false);
    expect(down.lastError).toContain('ECONNREFUSED');
    expect(registry.status(registry.get(host.nodeId)!)).toBe('UNREACHABLE');
    transport.unreachable = false;
    const up = await service.collectFacts('gpu-07');
    expect(up.reachable).toBe(true);
    expect(up.lastError).toBeNull();
    expect(registry.status(registry.get(host.nodeId)!)).toBe('READY');
  });

  it('refuses a changed host key with both fingerprints until exactly that key is trusted', async () => {
    const { host } = await service.add(request(), audit);
    transport.hostKey = KEY_B;
    const refused = await service.collectFacts('gpu-07');
    expect(refused.lastError).toContain(KEY_A.fingerprint);
    expect(refused.lastError).toContain(KEY_B.fingerprint);
    expect(refused.refusedHostKey?.fingerprint).toBe(KEY_B.fingerprint);
    expect(registry.status(registry.get(host.nodeId)!)).toBe('UNREACHABLE');
    await expect(service.trustHostKey('gpu-07', { fingerprint: KEY_A.fingerprint, reason: 'x' }, audit)).rejects.toMatchObject({ code: 'failed_precondition' });
    const trusted = await service.trustHostKey('gpu-07', { fingerprint: KEY_B.fingerprint, reason: 'reinstalled' }, audit);
    expect(trusted.hostKey).toMatchObject({ fingerprint: KEY_B.fingerprint, source: 'operator' });
    expect(trusted.reachable).toBe(true);
    expect(trusted.refusedHostKey).toBeNull();
    expect(notes.at(-1)).toMatchObject({ action: 'ssh-hosts.trust-host-key', details: { previous: KEY_A.fingerprint, reason: 'reinstalled' } });
  });

  it('the periodic pass collects every host; access() opens the login for the play runner; forget() drops the record', async () => {
    const { host } = await service.add(request(), audit);
    const before = ingested.length;
    await service.collectAll();
    expect(ingested.length).toBe(before + 1);
    expect(await service.sshNodeIds()).toEqual([host.nodeId]);
    const access = await service.access(host.nodeId);
    expect(access.hostKey.fingerprint).toBe(KEY_A.fingerprint);
    expect(access.endpoint.login).toMatchObject({ kind: 'key' });
    await expect(service.access('did:key:z6MkNotAnSshNode')).rejects.toMatchObject({ code: 'failed_precondition' });
    await service.forget(host.nodeId);
    expect(await store.getSshHost(host.nodeId)).toBeUndefined();
    expect(await store.listSshCredentials()).toEqual([]);
  });

  it('rotates credentials and audits the count', async () => {
    await service.add(request(), audit);
    // A control plane record (sealed-records.test.ts covers the re-seal itself) is counted and audited too.
    await store.insertSecret({
      id: 'server-identity.ed25519',
      sealed: JSON.stringify(sealSecret('test-master-key-0123456789', 'server-identity.ed25519', 'k')),
      createdAt: 1,
    });
    const sealedRecords = { resealed: 0, current: 1, unopenable: [] };
    expect(await service.rotateCredentials(audit)).toEqual({ rotated: 2, keyVersion: 1, sealedRecords });
    expect(notes.at(-1)).toMatchObject({ action: 'credentials.rotate', details: { rotated: 2, sealedRecords } });
  });
});
