import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  generateEd25519,
  scriptSha256,
  signScript,
  verifyRootsUpdate,
  verifyScriptSignature,
  type RootsUpdate,
  type ScriptSignature,
} from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { createOperatorKey, type OperatorKey } from '../keys/index.js';
import { captureIo, type CaptureOptions } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi, type FakeReply, type SeenRequest } from '../testing/fake-api.js';

/**
 * `roots`, `scripts` and `audit verify|ls` against a fake control plane that checks what the CLI
 * signs the way the real one does (signatures, hashes, versions).
 */

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const SCRIPT = '#!/bin/sh\nnvidia-smi -L\n';
const other = generateEd25519();

let home: string;
let env: NodeJS.ProcessEnv;
let ops: OperatorKey;
let locked: OperatorKey;
let api: FakeApi;
let roots: { version: number; roots: string[]; updates: RootsUpdate[] };
let latest: number | null;
let verifyReply: unknown;
let scriptReply: ((req: SeenRequest) => FakeReply) | null;

beforeAll(async () => {
  api = await startFakeApi({
    'GET /api/v1/roots': () => ({ body: roots }),
    'POST /api/v1/roots/init': (req) => ({ status: 201, body: { version: 1, roots: [(req.body as { did: string }).did], updates: [] } }),
    'POST /api/v1/roots/update': (req) => {
      const update = (req.body as { update: RootsUpdate }).update;
      const verdict = verifyRootsUpdate(update, roots.roots, { currentVersion: roots.version });
      if (!verdict.ok) return { status: 403, body: { error: { code: 'permission_denied', message: verdict.message } } };
      return { status: 201, body: { version: update.version, roots: update.roots, updates: [update] } };
    },
    'GET /api/v1/scripts/gpu-check': (req) => {
      if (scriptReply) return scriptReply(req);
      if (latest === null) return { status: 404, body: { error: { code: 'not_found', message: "no script named 'gpu-check'" } } };
      return { body: detail(latest, SCRIPT, signScript('gpu-check', latest, scriptSha256(SCRIPT), other.privateKeyPem)) };
    },
    'POST /api/v1/scripts': (req) => {
      const { name, content, signature } = req.body as { name: string; content: string; signature: ScriptSignature };
      if (!verifyScriptSignature(signature) || signature.sha256 !== scriptSha256(content) || signature.name !== name) {
        return { status: 403, body: { error: { code: 'permission_denied', message: 'bad signature' } } };
      }
      if (signature.version !== (latest ?? 0) + 1)
        return { status: 409, body: { error: { code: 'conflict', message: `the next version is ${(latest ?? 0) + 1}` } } };
      return { status: 201, body: detail(signature.version, content, signature) };
    },
    'GET /api/v1/scripts': () => ({
      body: {
        items: [
          { ...detail(2, SCRIPT, signScript('gpu-check', 2, scriptSha256(SCRIPT), other.privateKeyPem)), content: undefined },
          { ...detail(1, 'x', signScript('old', 1, scriptSha256('x'), other.privateKeyPem)), name: 'old', removed: true },
        ],
      },
    }),
    'DELETE /api/v1/scripts/gpu-check': () => ({
      body: { ...detail(3, SCRIPT, signScript('gpu-check', 3, scriptSha256(SCRIPT), other.privateKeyPem)), removed: true },
    }),
    'GET /api/v1/audit/verify': () => ({ body: verifyReply }),
    'GET /api/v1/audit': () => ({
      body: {
        items: [
          { id: 7, at: new Date(NOW - 60_000).toISOString(), actor: 'token:ops(x)', action: 'script.add', target: 'gpu-check@1', result: 'ok', details: null },
        ],
      },
    }),
  });
});
afterAll(() => api.close());

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-trust-cli-'));
  env = { XDG_CONFIG_HOME: join(home, 'xdg'), OPS_PASS: 'ops-pw' };
  ops = createOperatorKey('default', { env, home });
  locked = createOperatorKey('locked', { env, home, passphrase: 'ops-pw' });
  writeFileSync(join(home, 'check.sh'), SCRIPT);
  roots = { version: 0, roots: [], updates: [] };
  latest = null;
  scriptReply = null;
  verifyReply = { ok: true, checked: 12, legacy: 3 };
  api.requests.length = 0;
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

function detail(version: number, content: string, signature: ScriptSignature) {
  return {
    name: signature.name,
    version,
    sha256: scriptSha256(content),
    signer: signature.signer,
    createdAt: new Date(NOW - 3_600_000).toISOString(),
    createdBy: 'token:ops(x)',
    removed: false,
    removedAt: null,
    content,
    signature,
    history: [{ version, removed: false }],
  };
}

async function run(argv: string[], opts: CaptureOptions = {}) {
  const io = captureIo({ columns: 200, env, home, cwd: home, ...opts });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}
const sent = (method: string, path: string) => api.requests.filter((r) => r.method === method && r.path === path);

describe('gpufleet roots', () => {
  it('init makes the key the first root; ls shows roots or says there are none', async () => {
    const none = await run(['roots', 'ls']);
    expect(none.stdout).toMatch(/no roots yet/);
    const r = await run(['roots', 'init', '--key', 'locked', '--passphrase-env', 'OPS_PASS']);
    expect(r.code).toBe(0);
    expect(sent('POST', '/api/v1/roots/init')[0]!.body).toEqual({ did: locked.did });
    expect(r.stdout).toContain(`fleet root set: ${locked.did} (version 1)`);
    roots = { version: 2, roots: [ops.did, other.did], updates: [] };
    expect((await run(['roots', 'ls'])).stdout).toBe(
      `fleet roots, version 2:\n  ${ops.did}\n  ${other.did}\nhosts pin them when joining: gpufleet-agent join <token> --root ${ops.did} --root ${other.did}\n`,
    );
  });

  it('set signs the next version with a current root, as the control plane checks it', async () => {
    roots = { version: 3, roots: [ops.did], updates: [] };
    const r = await run(['roots', 'set', ops.did, other.did]);
    expect(r.code).toBe(0);
    const update = (sent('POST', '/api/v1/roots/update')[0]!.body as { update: RootsUpdate }).update;
    expect(update).toMatchObject({ version: 4, roots: [ops.did, other.did], iss: ops.did, at: NOW });
    expect(r.stdout).toMatch(/roots updated to version 4/);
  });

  it('refuses a key that is not a root before sending anything, and bad DIDs', async () => {
    roots = { version: 1, roots: [other.did], updates: [] };
    const r = await run(['roots', 'set', ops.did]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not a current fleet root/);
    expect(sent('POST', '/api/v1/roots/update')).toEqual([]);
    const bad = await run(['roots', 'set', 'did:web:example.com']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not an Ed25519 did:key/);
    roots = { version: 0, roots: [], updates: [] };
    expect((await run(['roots', 'set', ops.did])).stderr).toMatch(/no roots yet/);
  });

  it('warns when the signer leaves the root set', async () => {
    roots = { version: 1, roots: [ops.did], updates: [] };
    const r = await run(['roots', 'set', other.did]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/is no longer a root/);
  });
});

describe('gpufleet scripts', () => {
  it('add signs (name, next version, sha256) with the key and uploads the content', async () => {
    const r = await run(['scripts', 'add', 'gpu-check', 'check.sh', '--sign']);
    expect(r.code).toBe(0);
    const body = sent('POST', '/api/v1/scripts')[0]!.body as { name: string; content: string; signature: ScriptSignature };
    expect(body.content).toBe(SCRIPT);
    expect(body.signature).toMatchObject({ name: 'gpu-check', version: 1, sha256: scriptSha256(SCRIPT), signer: ops.did });
    expect(verifyScriptSignature(body.signature)).toBe(true);
    expect(r.stdout).toBe(`added gpu-check version 1 (sha256 ${scriptSha256(SCRIPT).slice(0, 12)}…, signed by ${ops.did})\n`);

    latest = 4;
    const next = await run(['scripts', 'add', 'gpu-check', '-', '--sign', '--key', 'locked', '--passphrase-env', 'OPS_PASS'], { stdin: SCRIPT });
    expect(next.code).toBe(0);
    expect((sent('POST', '/api/v1/scripts')[1]!.body as { signature: ScriptSignature }).signature).toMatchObject({ version: 5, signer: locked.did });
  });

  it('add refuses to go unsigned, bad names, missing files and reports the server refusing', async () => {
    const unsigned = await run(['scripts', 'add', 'gpu-check', 'check.sh']);
    expect([unsigned.code, unsigned.stderr]).toEqual([2, expect.stringMatching(/add --sign/)]);
    expect((await run(['scripts', 'add', 'bad name', 'check.sh', '--sign'])).stderr).toMatch(/not a script name/);
    const missing = await run(['scripts', 'add', 'gpu-check', 'nope.sh', '--sign']);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/cannot read nope.sh: ENOENT/)]);
    const noPass = await run(['scripts', 'add', 'gpu-check', 'check.sh', '--sign', '--key', 'locked']);
    expect([noPass.code, noPass.stderr]).toEqual([1, expect.stringMatching(/encrypted: give its passphrase/)]);
    expect(sent('POST', '/api/v1/scripts')).toEqual([]);
    scriptReply = () => ({ status: 500, body: { error: { code: 'internal', message: 'database down' } } });
    const down = await run(['scripts', 'add', 'gpu-check', 'check.sh', '--sign']);
    expect([down.code, down.stderr]).toEqual([1, expect.stringMatching(/database down/)]);
  });

  it('ls lists the newest version of each script', async () => {
    const r = await run(['scripts', 'ls']);
    const [head, one, two] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^NAME\s+VERSION\s+SHA256\s+SIGNER\s+UPDATED\s+STATE$/);
    expect(one).toMatch(new RegExp(`^gpu-check\\s+2\\s+${scriptSha256(SCRIPT).slice(0, 12)}\\s+did:key:z6Mk\\S+\\s+1h ago\\s+active$`));
    expect(two).toMatch(/^old\s+1\s+.*removed$/);
  });

  it('show prints a version with its content and checks hash and signature locally', async () => {
    latest = 2;
    const r = await run(['scripts', 'show', 'gpu-check@2']);
    expect(r.code).toBe(0);
    expect(sent('GET', '/api/v1/scripts/gpu-check')[0]!.query).toEqual({ version: '2' });
    expect(r.stdout).toContain(`signature: valid, by ${other.did}`);
    expect(r.stdout.endsWith(`\n\n${SCRIPT}`)).toBe(true);
    scriptReply = () => ({ body: { ...detail(2, SCRIPT, signScript('gpu-check', 2, scriptSha256(SCRIPT), other.privateKeyPem)), content: 'rm -rf /\n' } });
    expect((await run(['scripts', 'show', 'gpu-check', '-r', '2'])).stdout).toContain('signature: INVALID: the content does not hash to the recorded SHA-256');
    const clash = await run(['scripts', 'show', 'gpu-check@1', '-r', '2']);
    expect([clash.code, clash.stderr]).toEqual([2, expect.stringMatching(/name different versions/)]);
    const json = await run(['scripts', 'show', 'gpu-check', '-o', 'json']);
    expect(JSON.parse(json.stdout).content).toBe('rm -rf /\n');
  });

  it('rm marks the script removed', async () => {
    const r = await run(['scripts', 'rm', 'gpu-check']);
    expect(r.code).toBe(0);
    expect(sent('DELETE', '/api/v1/scripts/gpu-check')).toHaveLength(1);
    expect(r.stdout).toBe('removed gpu-check (versions 1-3 kept as history)\n');
    const missing = await run(['scripts', 'rm', 'other-script']);
    expect(missing.code).toBe(1);
  });
});

describe('gpufleet audit', () => {
  it('verify says the chain is intact and exits 0', async () => {
    const r = await run(['audit', 'verify']);
    expect([r.code, r.stdout]).toEqual([0, 'audit chain intact: 12 records checked (3 older records predate the chain)\n']);
    verifyReply = { ok: true, checked: 12, legacy: 0, checkpoint: { status: 'ok', id: 10, at: 1, unsigned: 2 } };
    expect((await run(['audit', 'verify'])).stdout).toBe('audit chain intact: 12 records checked; head signed at record 10 (2 newer not yet signed)\n');
  });

  it('verify exits 1 naming the first broken record, also with -o json', async () => {
    verifyReply = {
      ok: false,
      checked: 5,
      legacy: 0,
      firstBroken: { id: 5, reason: 'the record does not match its hash: its content was changed after it was written' },
    };
    const r = await run(['audit', 'verify']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: audit chain broken at record 5: the record does not match its hash: its content was changed after it was written (5 checked)\n',
    );
    const json = await run(['audit', 'verify', '-o', 'json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).firstBroken.id).toBe(5);
    verifyReply = {
      ok: false,
      checked: 9,
      legacy: 0,
      checkpoint: {
        status: 'truncated',
        id: 11,
        at: 1,
        reason: 'the newest records were removed: the signed checkpoint names record 11, the log now ends at 9',
      },
    };
    expect((await run(['audit', 'verify'])).stderr).toBe(
      'error: audit chain does not match its signed checkpoint (truncated): the newest records were removed: the signed checkpoint names record 11, the log now ends at 9 (9 checked)\n',
    );
    verifyReply = { nonsense: true };
    expect((await run(['audit', 'verify'])).stderr).toMatch(/does not understand/);
  });

  it('ls passes --since and --actor, like plain `audit`', async () => {
    const r = await run(['audit', 'ls', '--since', '1h', '--actor', 'token:ops(x)']);
    expect(r.code).toBe(0);
    expect(sent('GET', '/api/v1/audit')[0]!.query).toEqual({ since: '1h', actor: 'token:ops(x)', limit: '100' });
    expect(r.stdout).toMatch(/script\.add\s+gpu-check@1\s+ok/);
    const plain = await run(['audit', '--action', 'script.add']);
    expect(sent('GET', '/api/v1/audit')[1]!.query).toEqual({ action: 'script.add', limit: '100' });
    expect(plain.code).toBe(0);
    expect((await run(['audit', 'ls', '--since', 'yesterday'])).code).toBe(2);
  });
});
