import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '@gpufleet/agent';
import { generateEd25519, signLabelAttestation, type Ed25519KeyPair, type SignedCommand } from '@gpufleet/protocol';
import { runCli } from '../../../packages/cli/src/cli.js';
import { createOperatorKey } from '../../../packages/cli/src/keys/index.js';
import { captureIo } from '../../../packages/cli/src/testing/capture-io.js';
import { Cleanups } from '../support/cleanups.js';
import { E2eHost } from '../support/e2e-host.js';
import { waitFor } from '../support/wait-for.js';
import { grant, markerDir, ran, reasonCode, signed, startRootedServer, submitRun, targetOf, waitRunFinal, type RootedServer } from './support.js';

/**
 * Issue 9, item 1 end to end: a real server and a real agent over WebSocket. Labels from the join
 * token are vouched by the host; a label set by an operator reaches the host as a signed label
 * attestation in a trust frame; a selector naming a label the host cannot vouch for is refused.
 */

const HOST = 'e2e-labels';
const cleanups = new Cleanups();
let s: RootedServer;
let markers: string;
let host: E2eHost;
let nodeId: string;
const operator = generateEd25519();
let n = 0;

beforeAll(async () => {
  s = await startRootedServer(cleanups);
  markers = markerDir(cleanups);
  const created = await s.t.api('POST', '/api/v1/join-tokens', { description: 'labels e2e', labels: { region: 'eu' }, reusable: true });
  expect(created.status, created.text).toBe(201);
  host = new E2eHost({ token: created.body.token, hostname: HOST, gpuCount: 1 });
  cleanups.add('host', () => host.dispose());
  nodeId = (await host.join()).nodeId;
  await host.start();
  await waitFor('the host connected', async () => (await s.t.api('GET', `/api/v1/nodes/${HOST}`)).body?.connected === true);
});
afterAll(() => cleanups.run());

/** Runs `touch marker` as the operator under a root capability for `on`, on this host by name; returns the target and whether it ran. */
async function underCapability(on: string): Promise<{ state: string; reason: string | null; ran: boolean }> {
  const marker = join(markers, `m-${++n}`);
  const cmd = signed(operator, { target: `hostname=${HOST}`, marker, capability: grant(s.root, operator.did, { on }) });
  return runIt(cmd, marker);
}

async function runIt(cmd: SignedCommand, marker: string): Promise<{ state: string; reason: string | null; ran: boolean }> {
  const runId = await submitRun(s.t, cmd);
  const target = targetOf(await waitRunFinal(s.t, runId), HOST);
  return { state: target.state, reason: target.reason, ran: ran(marker) };
}

/** What `gpufleet nodes label HOST ... --key` sends: the node's complete operator labels, the next version. */
async function attest(labels: Record<string, string>, by: Ed25519KeyPair = s.root): Promise<number> {
  const held = await s.t.api('GET', `/api/v1/label-attestations/${nodeId}`);
  const version = held.status === 200 ? held.body.version + 1 : 1;
  const attestation = signLabelAttestation({ v: 1, node: nodeId, labels, version, issuedAt: Date.now(), iss: by.did, cap: null }, by.privateKeyPem);
  const res = await s.t.api('POST', '/api/v1/label-attestations', { attestation });
  expect(res.status, res.text).toBe(201);
  await waitFor(`attestation v${version} on the host`, () =>
    new FileStateStore(host.dataDir).loadTrust().some((r) => r.t === 'labels' && r.attestation.version === version),
  );
  return version;
}

describe('labels a host can trust', () => {
  it('region=eu from the join token runs (the README example)', async () => {
    const marker = join(markers, 'region');
    expect(await runIt(signed(s.root, { target: 'region=eu', marker }), marker)).toMatchObject({ state: 'succeeded', ran: true });
  });

  it('env!=prod is refused while env is a label the host cannot vouch for', async () => {
    const r = await underCapability('env!=prod');
    expect(r).toMatchObject({ state: 'refused', ran: false });
    expect(reasonCode(r as never)).toBe('selector_mismatch');
    expect(r.reason).toMatch(/cannot vouch for label 'env'/);
  });

  it('an operator sets env=prod (signed): the server lists it, the host refuses env!=prod; env=dev: it runs', async () => {
    await attest({ env: 'prod' });
    expect((await s.t.api('GET', `/api/v1/nodes/${HOST}`)).body.labels).toMatchObject({ env: 'prod', region: 'eu' });
    const refused = await underCapability('env!=prod');
    expect(refused).toMatchObject({ state: 'refused', ran: false });
    expect(refused.reason).toMatch(/does not match the capability's selector 'env!=prod'/);

    await attest({ env: 'dev', rack: 'r12' });
    expect(await underCapability('env!=prod')).toMatchObject({ state: 'succeeded', ran: true });
    expect(await underCapability('rack=r12,region=eu')).toMatchObject({ state: 'succeeded', ran: true });
  });

  it('the host keeps its attestation across a restart, and unsigned changes are refused once labels are signed', async () => {
    await host.stop();
    await host.start();
    await waitFor('the host reconnected', async () => (await s.t.api('GET', `/api/v1/nodes/${HOST}`)).body?.connected === true);
    expect(await underCapability('env=dev')).toMatchObject({ state: 'succeeded', ran: true });

    const unsigned = await s.t.api('PATCH', `/api/v1/nodes/${HOST}/labels`, { set: { env: 'prod' } });
    expect(unsigned.status).toBe(412);
    expect(unsigned.body.error.message).toMatch(/attested.*--key/);
    expect((await s.t.api('GET', `/api/v1/nodes/${HOST}`)).body.labels.env).toBe('dev');
  });

  it('the server refuses forged, stale and unknown-issuer attestations', async () => {
    const held = (await s.t.api('GET', `/api/v1/label-attestations/${nodeId}`)).body;
    const post = (attestation: unknown) => s.t.api('POST', '/api/v1/label-attestations', { attestation });
    expect((await post({ ...held, labels: { env: 'prod' } })).status).toBe(409);
    const forged = { ...held, version: held.version + 1, labels: { env: 'prod' } };
    expect((await post(forged)).body.error.details.reason).toBe('bad_signature');
    const stranger = generateEd25519();
    const bystander = signLabelAttestation(
      { v: 1, node: nodeId, labels: { env: 'prod' }, version: held.version + 1, issuedAt: Date.now(), iss: stranger.did, cap: null },
      stranger.privateKeyPem,
    );
    expect((await post(bystander)).body.error.details.reason).toBe('unknown_issuer');
    expect((await post('garbage')).status).toBe(400);
    expect((await s.t.api('GET', `/api/v1/nodes/${HOST}`)).body.labels.env).toBe('dev');
  });

  it('gpufleet nodes label --key --cap: an operator holding node/labels signs with the CLI, the host vouches for it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-labels-cli-'));
    cleanups.add('cli home', () => rmSync(home, { recursive: true, force: true }));
    const env = { XDG_CONFIG_HOME: join(home, 'xdg') };
    const key = createOperatorKey('ops', { env, home });
    writeFileSync(join(home, 'labels.cap.json'), JSON.stringify(grant(s.root, key.did, { can: ['node/labels'] })));
    const io = captureIo({ columns: 200, env, home, cwd: home });
    const code = await runCli(
      ['nodes', 'label', HOST, 'env=staging', 'rack-', '--key', 'ops', '--cap', 'labels.cap.json', '--server', s.t.url, '--token', s.t.adminToken],
      io,
    );
    expect(io.stderr).toBe('');
    expect(code).toBe(0);
    expect(io.stdout).toMatch(/labeled \(signed\): env=staging/);
    await waitFor('the CLI-signed attestation on the host', () =>
      new FileStateStore(host.dataDir).loadTrust().some((r) => r.t === 'labels' && r.attestation.iss === key.did),
    );
    expect(await underCapability('env=staging,region=eu,!rack')).toMatchObject({ state: 'succeeded', ran: true });
    expect(await underCapability('env!=staging')).toMatchObject({ state: 'refused', ran: false });
  });
});
