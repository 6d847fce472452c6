import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyPairFromPem, type AddSshHostRequest } from '@gpufleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventHub } from '../events/event-hub.js';
import { JoinTokenService } from '../services/join-tokens.js';
import { NodeRegistry } from '../services/node-registry.js';
import type { ActionOutcome } from '../services/audit-log.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { writeFakeGpuTools } from './__tests__/fake-gpu-tools.js';
import { LocalShellTransport } from './__tests__/local-shell-transport.js';
import { CredentialVault, masterKeysFrom } from './credential-vault.js';
import { INSTALL_FLAG_HELP, PromoteService, promoteTimeoutMs, type PromoteSettings } from './promote.js';
import { isPromoteTokenFor } from './promote-token.js';
import { SshHostsService } from './ssh-hosts-service.js';
import { NO_OTHER_REPLICAS } from '../replicas/session-owners.js';

/**
 * PromoteService over B's SshHostsService, a real SQLite store, registry and join tokens, with
 * the commands run by this machine's sh (LocalShellTransport) and a fake agent script: `join`
 * writes node.json and the token it got, `run` marks the data dir `running` and loops. The real
 * agent over real SSH is the e2e (test/e2e/job-center/promote.test.ts).
 */

const KEY = { algorithm: 'ssh-ed25519', fingerprint: `SHA256:${'A'.repeat(43)}`, publicKey: 'AAAAC3NzaC1lZDI1NTE5AAAAIA' };
const MASTER = { GPUFLEET_MASTER_KEY: 'test-master-key-0123456789' };
const FAKE_AGENT = `#!/bin/sh
here="$(dirname "$0")"
case "$1" in
  --version) echo "9.9.9-fake"; exit 0 ;;
  join)
    if [ -f "$here/fail-join" ]; then echo "join token refused by the server" >&2; exit 1; fi
    [ -f "$4/node.key" ] || { echo "no node key" >&2; exit 1; }
    echo "$2" > "$4/joined-token"; echo '{}' > "$4/node.json"; exit 0 ;;
  run)
    [ -f "$here/die-at-start" ] && { echo "agent: cannot reach the server" >&2; exit 1; }
    echo $$ > "$3/running"
    while :; do sleep 0.2; done ;;
esac
exit 2
`;

let dir: string;
let dataDir: string;
let agentBin: string;
let store: Store;
let registry: NodeRegistry;
let joinTokens: JoinTokenService;
let hosts: SshHostsService;
let transport: LocalShellTransport;
let notes: ActionOutcome[];
let now: number;
const audit = { actor: 'token:admin(t1)', note: async (e: ActionOutcome) => void notes.push(e) };

function addRequest(): AddSshHostRequest {
  return {
    hostname: 'gpu-07',
    address: '10.0.0.7',
    port: 22,
    user: 'root',
    login: { kind: 'key', privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----\n' },
    labels: { rack: 'a' },
  };
}

function service(settings: Partial<PromoteSettings> = {}, sessionUp = () => existsSync(join(dataDir, 'running'))): PromoteService {
  return new PromoteService({
    store,
    registry,
    hosts,
    vault: new CredentialVault(masterKeysFrom(MASTER)),
    transport,
    joinTokens,
    sessionUp,
    clock: { now: () => Date.now() },
    log: { info: () => {}, warn: () => {} },
    settings: { agentCommand: join(agentBin, 'gpufleet-agent'), dataDir, installCommand: null, ...settings },
    pollMs: 20,
  });
}

function installFakeAgent(): void {
  writeFileSync(join(agentBin, 'gpufleet-agent'), FAKE_AGENT);
  chmodSync(join(agentBin, 'gpufleet-agent'), 0o755);
}

/** Kills a fake agent a test left running (the stop script does it in the tests that check stopping). */
function killLeftovers(): void {
  for (const file of [join(dataDir, 'background.pid'), join(dataDir, 'running')]) {
    if (!existsSync(file)) continue;
    try {
      process.kill(Number(readFileSync(file, 'utf8').trim()), 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-promote-'));
  dataDir = join(dir, 'host', 'var', 'lib', 'gpufleet-agent');
  agentBin = join(dir, 'agent-bin');
  mkdirSync(agentBin);
  store = await openSqliteStore({ path: join(dir, 'db.sqlite') });
  await store.migrate();
  now = Date.now();
  const clock = { now: () => now };
  registry = new NodeRegistry({ remoteSessions: NO_OTHER_REPLICAS, store, clock, hub: new EventHub(), offlineAfterMs: 10_000, latestMetrics: () => null });
  joinTokens = new JoinTokenService({
    store,
    clock: { now: () => Date.now() },
    serverUrl: () => 'http://127.0.0.1:7420',
    caFingerprint: null,
    roots: () => [],
  });
  transport = new LocalShellTransport(KEY, `${writeFakeGpuTools(join(dir, 'bin'))}:/usr/bin:/bin`);
  notes = [];
  hosts = new SshHostsService({
    store,
    registry,
    transport,
    vault: new CredentialVault(masterKeysFrom(MASTER)),
    metrics: { ingest: () => {} },
    clock,
    log: { info: () => {}, warn: () => {} },
    factsIntervalMs: 60_000,
  });
});

afterEach(async () => {
  killLeftovers();
  await hosts.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The error a promote failed with; a promote that succeeds fails the test. */
async function failure(p: Promise<unknown>): Promise<Error & { code?: string; details?: unknown }> {
  const outcome = await p.then(
    (r) => ({ ok: true as const, r }),
    (e: Error) => ({ ok: false as const, e }),
  );
  if (outcome.ok) throw new Error(`the promote succeeded: ${JSON.stringify(outcome.r)}`);
  return outcome.e;
}

async function addHost(): Promise<string> {
  return (await hosts.add(addRequest(), audit)).host.nodeId;
}

describe('PromoteService', () => {
  it('promotes: the node key goes to the host (0600 in a 0700 dir), join with a single-use token for that node, agent started, mode agent, sealed key deleted', async () => {
    installFakeAgent();
    const nodeId = await addHost();
    const result = await service().promote('gpu-07', { reason: 'agent wanted' }, audit);
    expect(result).toMatchObject({ nodeId, hostname: 'gpu-07', mode: 'agent' });
    expect(result.steps.map((s) => s.step)).toEqual(['token', 'agent-check', 'node-key', 'join', 'start', 'session', 'finish']);
    expect(result.steps[1]!.detail).toContain('9.9.9-fake');
    // The host holds the node's own key: the same id.
    const keyFile = join(dataDir, 'node.key');
    expect(keyPairFromPem(readFileSync(keyFile, 'utf8')).did).toBe(nodeId);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    // The key travelled on stdin, never in a command line.
    expect(transport.execs.join('\n')).not.toContain('PRIVATE KEY');
    const token = (await joinTokens.list()).find((t) => t.description.includes(nodeId))!;
    expect(token).toMatchObject({ reusable: false, labels: { rack: 'a' } });
    expect(isPromoteTokenFor({ description: token.description, reusable: false }, nodeId)).toBe(true);
    expect(readFileSync(join(dataDir, 'joined-token'), 'utf8')).toMatch(/^gfj1\./);
    const node = registry.get(nodeId)!;
    expect(node).toMatchObject({ mode: 'agent', hostname: 'gpu-07', userLabels: { rack: 'a' } });
    expect((await store.getNode(nodeId))?.mode).toBe('agent');
    // The login and the SSH record stay; the server's copy of the node key is gone.
    expect((await store.listSshCredentials({ nodeId })).map((c) => c.purpose)).toEqual(['login']);
    expect(await store.getSshHost(nodeId)).toBeDefined();
    expect(notes.at(-1)).toMatchObject({ action: 'ssh-hosts.promote', target: nodeId, result: 'ok', details: { reason: 'agent wanted' } });
    // A second promote is refused: it is an agent host now.
    await expect(service().promote(nodeId, {}, audit)).rejects.toMatchObject({ code: 'failed_precondition', message: /already an agent host/ });
  });

  it("installs the agent with the request's command, else the server's default, else refuses naming the flag", async () => {
    const nodeId = await addHost();
    const refused = await failure(service().promote('gpu-07', {}, audit));
    expect(refused).toMatchObject({ code: 'failed_precondition', details: { step: 'install' } });
    expect((refused as Error).message).toContain(INSTALL_FLAG_HELP);
    expect((refused as Error).message).toContain('--agent-install-command');
    expect(registry.get(nodeId)?.mode).toBe('ssh');
    // Its token is revoked, and nothing was written on the host.
    expect((await joinTokens.list()).map((t) => t.state)).toEqual(['revoked']);
    expect(existsSync(dataDir)).toBe(false);

    const source = join(dir, 'agent-src');
    writeFileSync(source, FAKE_AGENT);
    const install = `cp ${source} ${join(agentBin, 'gpufleet-agent')} && chmod 755 ${join(agentBin, 'gpufleet-agent')}`;
    const result = await service({ installCommand: install }).promote('gpu-07', {}, audit);
    expect(result.steps.map((s) => s.step)).toContain('install');
    expect(result.steps.find((s) => s.step === 'install')?.detail).toContain("server's --agent-install-command");
    expect(registry.get(nodeId)?.mode).toBe('agent');
  });

  it("a failed install command fails at install with the host's words", async () => {
    await addHost();
    const err = await failure(service().promote('gpu-07', { installCommand: 'echo "E: Unable to locate package gpufleet-agent" >&2; exit 100' }, audit));
    expect(err.message).toMatch(/failed at step 'install': the install command exited with status 100: E: Unable to locate package gpufleet-agent/);
  });

  it('a refused join fails at join: the node stays an SSH node with its sealed key, the token is revoked, the key written is removed', async () => {
    installFakeAgent();
    writeFileSync(join(agentBin, 'fail-join'), '');
    const nodeId = await addHost();
    const err = await failure(service().promote('gpu-07', {}, audit));
    expect(err.message).toMatch(
      /promote of gpu-07 failed at step 'join': .* join exited with status 1: join token refused by the server; it stays an SSH node/,
    );
    expect(registry.get(nodeId)?.mode).toBe('ssh');
    expect((await store.listSshCredentials({ nodeId })).map((c) => c.purpose).sort()).toEqual(['login', 'node-key']);
    expect((await joinTokens.list())[0]?.state).toBe('revoked');
    expect(existsSync(join(dataDir, 'node.key'))).toBe(false);
    expect(notes.at(-1)).toMatchObject({ action: 'ssh-hosts.promote', result: 'error', details: { step: 'join' } });
  });

  it('an agent that dies at start fails at start with its log', async () => {
    installFakeAgent();
    writeFileSync(join(agentBin, 'die-at-start'), '');
    await addHost();
    const err = await failure(service().promote('gpu-07', {}, audit));
    expect(err.message).toMatch(/failed at step 'start': the agent exited right after it started: agent: cannot reach the server/);
  });

  it('no session within the timeout fails at session and stops the agent it started', async () => {
    installFakeAgent();
    const nodeId = await addHost();
    const started = Date.now();
    const err = await failure(service({}, () => false).promote('gpu-07', { timeout: '10s' }, audit));
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(err.message).toMatch(/failed at step 'session': the agent did not connect to the server within 10s/);
    expect(registry.get(nodeId)?.mode).toBe('ssh');
    // The stop script ended the background agent and removed the data dir.
    expect(existsSync(dataDir)).toBe(false);
  }, 30_000);

  it('refuses an agent node, an unknown node, a bad timeout and a second promote running at once', async () => {
    installFakeAgent();
    await addHost();
    await expect(service().promote('nope', {}, audit)).rejects.toMatchObject({ code: 'not_found' });
    await expect(service().promote('gpu-07', { timeout: '5s' }, audit)).rejects.toMatchObject({ code: 'invalid_argument', message: /from 10s to 1h/ });
    expect(() => promoteTimeoutMs('2h')).toThrow(/from 10s to 1h/);
    expect(promoteTimeoutMs(undefined)).toBe(300_000);
    const one = service();
    const [a, b] = await Promise.allSettled([one.promote('gpu-07', {}, audit), one.promote('gpu-07', {}, audit)]);
    expect(a.status).toBe('fulfilled');
    expect(b).toMatchObject({ status: 'rejected', reason: { code: 'conflict' } });
  });
});
