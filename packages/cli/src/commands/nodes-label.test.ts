import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateEd25519, signCapability, verifyLabelAttestation, type LabelAttestation } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { createOperatorKey, type OperatorKey } from '../keys/index.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';

/**
 * `gpufleet nodes label ... --key`: the CLI signs the node's complete operator label set as its
 * next label attestation; the fake control plane checks it the way the server (and the host) do.
 */

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const NODE = generateEd25519().did;

let home: string;
let env: NodeJS.ProcessEnv;
let root: OperatorKey;
let ops: OperatorKey;
let api: FakeApi;
let held: LabelAttestation | null;
let userLabels: Record<string, string>;

beforeAll(async () => {
  api = await startFakeApi({
    'GET /api/v1/nodes/gpu-7': () => ({ body: { id: NODE, hostname: 'gpu-7', userLabels, labels: userLabels } }),
    [`GET /api/v1/nodes/${NODE}`]: () => ({ body: { id: NODE, hostname: 'gpu-7', userLabels, labels: userLabels } }),
    [`GET /api/v1/label-attestations/${NODE}`]: () => (held ? { body: held } : { status: 404, body: { error: { code: 'not_found', message: 'none' } } }),
    'POST /api/v1/label-attestations': (req) => {
      const a = (req.body as { attestation: LabelAttestation }).attestation;
      const verdict = verifyLabelAttestation(a, {
        node: NODE,
        roots: [root.did],
        now: NOW,
        isRevoked: () => false,
        hostLabels: userLabels,
        vouches: () => true,
        currentVersion: held?.version ?? 0,
      });
      if (!verdict.ok) return { status: 403, body: { error: { code: 'permission_denied', message: verdict.message, details: { reason: verdict.reason } } } };
      held = a;
      userLabels = { ...a.labels };
      return { status: 201, body: a };
    },
    'PATCH /api/v1/nodes/gpu-7/labels': () => ({ body: { id: NODE, hostname: 'gpu-7', userLabels: { team: 'unsigned' }, labels: {} } }),
  });
});
afterAll(() => api.close());

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-label-cli-'));
  env = { XDG_CONFIG_HOME: join(home, 'xdg') };
  root = createOperatorKey('default', { env, home });
  ops = createOperatorKey('ops', { env, home });
  held = null;
  userLabels = { team: 'vision', rack: 'r1' };
  api.requests.length = 0;
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function run(argv: string[]) {
  const io = captureIo({ columns: 200, env, home, cwd: home });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}
const posted = () =>
  api.requests
    .filter((r) => r.method === 'POST' && r.path === '/api/v1/label-attestations')
    .map((r) => (r.body as { attestation: LabelAttestation }).attestation);

describe('gpufleet nodes label --key', () => {
  it('signs the complete label set after the edits as version 1, then the next version', async () => {
    const r = await run(['nodes', 'label', 'gpu-7', 'env=prod', 'rack-', '--key', 'default']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(posted()[0]).toMatchObject({ node: NODE, labels: { team: 'vision', env: 'prod' }, version: 1, iss: root.did, cap: null, issuedAt: NOW });
    expect(r.stdout).toMatch(/node gpu-7 labeled \(signed\): .*env=prod/);
    expect((await run(['nodes', 'label', 'gpu-7', 'env=dev', '--key', 'default'])).code).toBe(0);
    expect(posted()[1]).toMatchObject({ labels: { team: 'vision', env: 'dev' }, version: 2 });
    expect(api.requests.some((q) => q.method === 'PATCH')).toBe(false);
  });

  it('an operator signs with a node/labels capability from a root; without one it is refused', async () => {
    const cap = signCapability(
      { v: 1, iss: root.did, aud: ops.did, can: ['node/labels'], on: '*', nbf: NOW - 60_000, exp: NOW + 3_600_000, nonce: 'cap-nonce-label', prf: [] },
      root.privateKeyPem,
    );
    writeFileSync(join(home, 'labels.json'), JSON.stringify(cap));
    const ok = await run(['nodes', 'label', 'gpu-7', 'env=dev', '--key', 'ops', '--cap', 'labels.json']);
    expect(ok.code).toBe(0);
    expect(posted()[0]).toMatchObject({ iss: ops.did, cap: { aud: ops.did } });
    const no = await run(['nodes', 'label', 'gpu-7', 'env=prod', '--key', 'ops']);
    expect(no.code).toBe(1);
    expect(no.stderr).toMatch(/not a fleet root/);
  });

  it('refuses a capability file that is missing or not a capability, and bad label words, before signing', async () => {
    expect((await run(['nodes', 'label', 'gpu-7', 'env=dev', '--key', 'ops', '--cap', 'nope.json'])).stderr).toMatch(/cannot read --cap nope.json/);
    writeFileSync(join(home, 'junk.json'), '{"v":1}');
    expect((await run(['nodes', 'label', 'gpu-7', 'env=dev', '--key', 'ops', '--cap', 'junk.json'])).stderr).toMatch(/is not a capability/);
    expect((await run(['nodes', 'label', 'gpu-7', 'bad key=x', '--key', 'default'])).code).toBe(2);
    expect(posted()).toEqual([]);
  });

  it('without --key the change stays unsigned (server-side only)', async () => {
    const r = await run(['nodes', 'label', 'gpu-7', 'team=x']);
    expect(r.code).toBe(0);
    expect(api.requests.some((q) => q.method === 'PATCH' && q.path === '/api/v1/nodes/gpu-7/labels')).toBe(true);
    expect(posted()).toEqual([]);
  });
});
