import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateFingerprint } from '@gpufleet/agent';
import { runCli } from '../../packages/cli/src/cli.js';
import { captureIo } from '../../packages/cli/src/testing/capture-io.js';
import { assertBuilt, ChildServer } from './support/child-server.js';
import { Cleanups } from './support/cleanups.js';
import { freePort } from './support/free-port.js';
import { apiClient, type ApiCall } from './support/http-json.js';

/*
 * The documented master key rotation against the built `gpufleet server` (SQLite in a data dir,
 * listening on 0.0.0.0 so it serves https from its CA sealed in the store): start with key A
 * and upload the release signing keys; restart with B, GPUFLEET_MASTER_KEY_VERSION=2 and A as
 * GPUFLEET_MASTER_KEY_PREVIOUS, run `credentials rotate`; restart with B alone. The control
 * plane keeps its DID, its TLS CA and its online TUF keys through all of it. Before, the
 * sealed records opened with the current key only and the server refused the first restart.
 */
const KEY_A = 'master-key-A-0123456789abcdefghij';
const KEY_B = 'master-key-B-0123456789abcdefghij';
const KEY_C = 'master-key-C-0123456789abcdefghij';

const cleanups = new Cleanups();
let work: string;
let dataDir: string;
let port: number;
let server: ChildServer;
/** What the first start showed: the control plane's DID and CA, and its admin token. */
let first: { did: string; caPem: string; caFingerprint: string; adminToken: string };

/** A server on the same port and data dir; one a failed case left running is killed first, so no answer comes from it. */
async function serverWith(env: Record<string, string>): Promise<ChildServer> {
  await server?.kill('SIGKILL');
  server = new ChildServer({ port, dataDir, listenHost: '0.0.0.0', env });
  return server;
}

async function startWith(env: Record<string, string>): Promise<void> {
  await (await serverWith(env)).start();
}

/** A client that trusts only the first start's CA: a request succeeds only while the server serves under it. */
const pinnedApi = (): ApiCall => apiClient(server.url, first.adminToken, first.caPem);

async function identity(api: ApiCall): Promise<{ did: string; keyStorage: string }> {
  const res = await api('GET', '/api/v1/server-identity');
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function onlineKeysHeld(api: ApiCall): Promise<boolean> {
  const res = await api('GET', '/api/v1/releases');
  expect(res.status, res.text).toBe(200);
  return res.body.repository.onlineKeys;
}

/** Starts it with `env` and expects a refusal; returns what it printed. */
async function refusedWith(env: Record<string, string>): Promise<string> {
  const refused = await serverWith(env);
  const err = await refused.start().then(
    () => null,
    (e: Error) => e,
  );
  if (err === null) {
    await refused.stop();
    throw new Error('the server started, but a refusal was expected');
  }
  return err.message;
}

beforeAll(async () => {
  assertBuilt();
  work = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-key-rotation-'));
  cleanups.add('work dir', () => rmSync(work, { recursive: true, force: true }));
  dataDir = join(work, 'server');
  port = await freePort();
  cleanups.add('child server', () => server?.kill('SIGKILL'));
});

afterAll(() => cleanups.run());

describe('a master key rotation, as documented', { timeout: 60_000 }, () => {
  it('key A: the control plane key and the TLS CA are sealed in the store, and the release signing keys are uploaded', async () => {
    await startWith({ GPUFLEET_MASTER_KEY: KEY_A });
    const caPem = server.caPem();
    expect(caPem).toMatch(/BEGIN CERTIFICATE/);
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    first = { did: '', caPem: caPem!, caFingerprint: certificateFingerprint(caPem!), adminToken };
    const api = pinnedApi();
    const me = await identity(api);
    expect(me.keyStorage).toBe('sealed');
    first.did = me.did;

    // `releases keys init` runs offline; the upload is what `releases keys upload` sends.
    const keys = join(work, 'release-keys');
    const io = captureIo({ columns: 160, cwd: work });
    expect(await runCli(['releases', 'keys', 'init', '--dir', keys], io), io.stderr).toBe(0);
    const upload = await api('POST', '/api/v1/releases/keys', {
      roots: [JSON.parse(readFileSync(join(keys, '1.root.json'), 'utf8'))],
      snapshotKey: readFileSync(join(keys, 'snapshot.pem'), 'utf8'),
      timestampKey: readFileSync(join(keys, 'timestamp.pem'), 'utf8'),
    });
    expect(upload.status, upload.text).toBe(201);
    expect(upload.body.onlineKeys).toBe(true);
    await server.stop();
  });

  it('key B with A as the previous key (version 2): it starts with the same DID and CA, and re-seals every record at start', async () => {
    await startWith({ GPUFLEET_MASTER_KEY: KEY_B, GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: KEY_A });
    expect(server.caPem()).toBe(first.caPem);
    const api = pinnedApi();
    expect((await identity(api)).did).toBe(first.did);
    // The start re-sealed what it opened (the control plane key, the CA) and then the rest (the
    // two release keys, which nothing in this process has opened): rotate finds all four current.
    const rotated = await api('POST', '/api/v1/credentials/rotate');
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body).toEqual({ rotated: 0, keyVersion: 2, sealedRecords: { resealed: 0, current: 4, unopenable: [] } });
    expect(await onlineKeysHeld(api)).toBe(true);
    await server.stop();
  });

  it('key B alone: it still starts with the same DID, CA and release signing keys', async () => {
    await startWith({ GPUFLEET_MASTER_KEY: KEY_B, GPUFLEET_MASTER_KEY_VERSION: '2' });
    expect(certificateFingerprint(server.caPem()!)).toBe(first.caFingerprint);
    const api = pinnedApi();
    expect((await identity(api)).did).toBe(first.did);
    expect(await onlineKeysHeld(api)).toBe(true);
    await server.stop();
  });

  it('a previous key without a version above 1 is refused, saying what to set', async () => {
    const out = await refusedWith({ GPUFLEET_MASTER_KEY: KEY_C, GPUFLEET_MASTER_KEY_PREVIOUS: KEY_B });
    expect(out).toMatch(/GPUFLEET_MASTER_KEY_PREVIOUS is set but GPUFLEET_MASTER_KEY_VERSION is 1/);
  });

  it('a previous key that is not the one the records were sealed with is refused, naming the record and what to do', async () => {
    const out = await refusedWith({ GPUFLEET_MASTER_KEY: KEY_C, GPUFLEET_MASTER_KEY_VERSION: '3', GPUFLEET_MASTER_KEY_PREVIOUS: KEY_A });
    expect(out).toMatch(/the (control plane key|shared TLS CA) .*cannot be opened/);
    expect(out).toMatch(/set GPUFLEET_MASTER_KEY_PREVIOUS to the key it was sealed with/);
    expect(out).toMatch(/gpufleet credentials rotate/);
    // Nothing was lost: B still opens everything.
    await startWith({ GPUFLEET_MASTER_KEY: KEY_B, GPUFLEET_MASTER_KEY_VERSION: '2' });
    expect((await identity(pinnedApi())).did).toBe(first.did);
    await server.stop();
  });
});
