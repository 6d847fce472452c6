import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JobPayload,
  JobSpec,
  generateEd25519,
  jobSpecHash,
  signCapability,
  signJob,
  verifySignedJob,
  type Capability,
  type SignedJobContext,
} from '@gpufleet/protocol';
import { createOperatorKey } from '../../../../cli/src/keys/key-store.js';
import { jobSpecFixture } from '../../testing/job-fixture.js';
import { createBrowserSigner } from './browser-signer.js';
import { draftJobPayload, jobSpecHashOf, jobSpecProblem } from './job-payload.js';
import { parseKeyFile, unlockKeyFile, type UnlockedKey } from './key-file.js';

/*
 * Jobs signed in the browser against the host's own verifier (signed-job.ts): a job signed in
 * the tab must be accepted exactly where one signed by `gpufleet jobs run` would be, and a
 * change after signing, a capability without workload/run or another key's payload refused.
 */

const root = generateEd25519();
const HOST = { hostname: 'gpu-node-07', region: 'eu' };
let dir: string;
let key: UnlockedKey;
let keyPem: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-web-job-signer-'));
  const made = createOperatorKey('alice', { dir });
  keyPem = made.privateKeyPem;
  key = await unlockKeyFile(parseKeyFile(readFileSync(made.path, 'utf8')), '');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hostContext(over: Partial<SignedJobContext> = {}): SignedJobContext {
  return { roots: [root.did], now: Date.now(), isRevoked: () => false, hostLabels: HOST, ...over };
}

function grant(can: Capability['can'], on = '*'): Capability {
  const now = Date.now();
  return signCapability(
    { v: 1, iss: root.did, aud: key.did, can, on, nbf: now - 60_000, exp: now + 3_600_000, nonce: 'browser-job-test', prf: [] },
    root.privateKeyPem,
  );
}

const spec = JobSpec.parse(jobSpecFixture('llama', 2, { constraints: ['region=eu'] }));

describe('jobs signed in the browser', () => {
  it('the fixture spec is a valid normalized JobSpec', () => {
    expect(JobSpec.safeParse(jobSpecFixture()).success).toBe(true);
  });

  it('signs a job a host accepts, under a capability granting workload/run', async () => {
    const { signer } = createBrowserSigner(key, grant(['workload/run']));
    const payload = signer.draftJob(spec);
    expect(JobPayload.safeParse(payload).success).toBe(true);
    expect(payload).toMatchObject({ v: 1, job: spec, invoker: key.did });
    expect(payload.nonce.length).toBeGreaterThanOrEqual(16);
    const signed = await signer.signJob(payload);
    expect(verifySignedJob(signed, hostContext())).toEqual({ ok: true });
  });

  it('signs the same bytes as the CLI (signJob of the protocol) for the same payload', async () => {
    const { signer } = createBrowserSigner(key, null);
    const payload = signer.draftJob(spec);
    const browser = await signer.signJob(payload);
    expect(browser).toEqual(signJob(payload, keyPem));
    expect(verifySignedJob(browser, hostContext({ roots: [root.did, key.did] }))).toEqual({ ok: true });
  });

  it('a spec changed after signing is refused on the host', async () => {
    const { signer } = createBrowserSigner(key, grant(['workload/run']));
    const signed = await signer.signJob(signer.draftJob(spec));
    const tampered = structuredClone(signed);
    tampered.payload.job.allocations.web!.image = 'docker.io/evil/miner:latest';
    expect(verifySignedJob(tampered, hostContext())).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('a capability without workload/run signs a job no host runs', async () => {
    const { signer } = createBrowserSigner(key, grant(['exec/run']));
    const signed = await signer.signJob(signer.draftJob(spec));
    expect(verifySignedJob(signed, hostContext())).toMatchObject({ ok: false });
  });

  it("refuses to sign another key's payload", async () => {
    const { signer } = createBrowserSigner(key, null);
    const payload = signer.draftJob(spec);
    await expect(signer.signJob({ ...payload, invoker: root.did })).rejects.toThrow(/not for the unlocked key/);
  });

  it('a forgotten key signs no job', async () => {
    const held = createBrowserSigner(key, null);
    const payload = held.signer.draftJob(spec);
    held.forget();
    await expect(held.signer.signJob(payload)).rejects.toThrow(/forgotten/);
  });

  it('each draft has a fresh nonce and the clock it is given', () => {
    const a = draftJobPayload(spec, key.did, null, 1_760_000_000_000);
    const b = draftJobPayload(spec, key.did, null, 1_760_000_000_000);
    expect(a.issuedAt).toBe(1_760_000_000_000);
    expect(a.nonce).not.toBe(b.nonce);
  });

  it('the spec hash is the one the server and hosts compute', async () => {
    expect(await jobSpecHashOf(spec)).toBe(jobSpecHash(spec));
  });

  it('garbage in place of a spec is refused before anything is signed', () => {
    for (const garbage of [null, 7, 'llama', [], {}, { name: '' }, { name: 'x' }, { name: 'x', allocations: {} }, { name: 'x', allocations: [] }]) {
      expect(jobSpecProblem(garbage)).not.toBeNull();
      expect(() => draftJobPayload(garbage as JobSpec, key.did, null, 0)).toThrow();
    }
    expect(jobSpecProblem(spec)).toBeNull();
  });
});
