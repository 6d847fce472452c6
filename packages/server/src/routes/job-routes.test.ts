import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, generateEd25519, gpuInfoOf, parseJobFile, signJob, type Ed25519KeyPair, type SignedJob } from '@gpufleet/protocol';
import { sampleFacts } from '../store/__tests__/store-fixtures.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';

let t: TestServer;
let root: Ed25519KeyPair;
let viewerToken: string;
const NODE = 'did:key:z6MkJobRoutesNodeA';

function jobFile(name: string, count = 1, env: Record<string, string> = {}): string {
  return stringify({ name, allocations: { web: { count, executor: 'process', command: ['sleep', '1000'], env, resources: { gpus: 1 } } } });
}

function signed(name: string, count = 1, env: Record<string, string> = {}, key = root): SignedJob {
  return signJob(
    { v: 1, job: parseJobFile(jobFile(name, count, env)), issuedAt: Date.now(), nonce: randomBytes(16).toString('hex'), invoker: key.did, capability: null },
    key.privateKeyPem,
  );
}

beforeAll(async () => {
  t = await startTestServer();
  root = generateEd25519();
  expect((await t.api('POST', '/api/v1/roots/init', { did: root.did })).status).toBe(201);
  const viewer = await t.api('POST', '/api/v1/api-tokens', { name: 'viewer', role: 'viewer' });
  viewerToken = viewer.body.token;
  // A READY node with 4 GPUs, as enrollment leaves one (no agent: its starts wait for a session).
  const { registry } = t.server.context;
  await registry.add({
    id: NODE,
    hostname: 'routes-a',
    adminState: 'active',
    tokenLabels: { pool: 'test' },
    userLabels: {},
    facts: sampleFacts('routes-a'),
    gpus: Array.from({ length: 4 }, (_, i) =>
      gpuInfoOf({ ...emptyGpuSnapshot('nvidia', i), uuid: `GPU-routes-${i}`, name: 'NVIDIA H100 80GB HBM3', memoryTotalBytes: 85_520_809_984 }),
    ),
    toolFailures: [],
    agentVersion: '0.1.0',
    simulated: true,
    joinTokenId: null,
    enrolledAt: Date.now(),
    lastSeenAt: null,
    ackedSeq: 0,
    cordonReason: null,
    mode: 'agent',
  });
  registry.seen(NODE);
});
afterAll(async () => t?.close());

describe('job routes', () => {
  it('submit (201, then 200 for the same spec), list, detail, allocations, GPU rows, stop (200) and purge (204)', async () => {
    const first = await t.api('POST', '/api/v1/jobs', { signed: signed('routes', 2), source: jobFile('routes', 2) });
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ created: true, job: { name: 'routes', version: 1, desired: 2, gpus: 2, source: jobFile('routes', 2) } });
    expect(first.body.plan.placements).toHaveLength(2);
    expect(first.body.job.allocations).toHaveLength(2);
    const again = await t.api('POST', '/api/v1/jobs', { signed: signed('routes', 2) });
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);

    const list = await t.api('GET', '/api/v1/jobs', undefined, viewerToken);
    expect(list.body.items).toMatchObject([{ name: 'routes', status: 'pending', version: 1 }]);
    const detail = await t.api('GET', '/api/v1/jobs/routes', undefined, viewerToken);
    expect(detail.status).toBe(200);
    expect(detail.body.versions).toMatchObject([{ version: 1, status: 'current', invoker: root.did }]);
    expect(detail.body.spec.name).toBe('routes');

    const allocs = await t.api('GET', '/api/v1/allocations?job=routes&active=true&selector=pool%3Dtest', undefined, viewerToken);
    expect(allocs.body.items).toHaveLength(2);
    const none = await t.api('GET', '/api/v1/allocations?job=routes&selector=pool%3Dother', undefined, viewerToken);
    expect(none.body.items).toEqual([]);
    const a = allocs.body.items[0];
    expect(a).toMatchObject({ job: 'routes', nodeId: NODE, hostname: 'routes-a', status: 'pending', desired: 'run' });
    expect(a.gpus[0]).toMatchObject({ uuid: expect.stringMatching(/^GPU-routes-/), name: 'NVIDIA H100 80GB HBM3' });
    expect((await t.api('GET', `/api/v1/allocations/${a.id}`, undefined, viewerToken)).body.id).toBe(a.id);
    expect((await t.api('GET', `/api/v1/jobs/routes/allocations/${a.name}`, undefined, viewerToken)).body.id).toBe(a.id);
    expect((await t.api('GET', `/api/v1/jobs/routes/allocations/${a.id}`, undefined, viewerToken)).body.name).toBe(a.name);
    expect((await t.api('GET', `/api/v1/allocations?node=routes-a&status=pending`, undefined, viewerToken)).body.items).toHaveLength(2);
    expect((await t.api('GET', `/api/v1/allocations/${a.id}/logs`, undefined, viewerToken)).body).toEqual({ items: [], next: null });

    // GET /gpus names the allocation holding each GPU; the node view does too.
    const gpus = await t.api('GET', '/api/v1/gpus', undefined, viewerToken);
    const held = gpus.body.items.filter((r: { allocation: unknown }) => r.allocation !== null);
    expect(held.map((r: { allocation: { job: string } }) => r.allocation.job)).toEqual(['routes', 'routes']);
    expect(gpus.body.items.filter((r: { allocation: unknown }) => r.allocation === null)).toHaveLength(2);
    const mine = held.find((r: { gpu: { index: number } }) => r.gpu.index === a.gpus[0].index);
    expect(mine.allocation).toEqual({ id: a.id, job: 'routes', name: a.name });
    expect(mine.gpu.allocation).toEqual({ id: a.id, job: 'routes', name: a.name });
    const node = await t.api('GET', `/api/v1/nodes/${encodeURIComponent(NODE)}`, undefined, viewerToken);
    expect(node.body.gpus.find((g: { index: number }) => g.index === a.gpus[0].index).allocation).toEqual({ id: a.id, job: 'routes', name: a.name });

    const stopped = await t.api('POST', '/api/v1/jobs/routes/stop', { reason: 'routes test' });
    expect(stopped.status, stopped.text).toBe(200);
    expect(stopped.body).toMatchObject({ name: 'routes', status: 'stopped' });
    // Never delivered (no session): they end at once.
    expect(stopped.body.allocations.every((x: { status: string }) => x.status === 'stopped')).toBe(true);
    const purged = await t.api('POST', '/api/v1/jobs/routes/stop', { purge: true });
    expect(purged.status).toBe(204);
    expect((await t.api('GET', '/api/v1/jobs/routes')).status).toBe(404);
    expect((await t.api('GET', `/api/v1/allocations/${a.id}`)).status).toBe(404);

    // One audit record per request, under the domain action.
    const audit = await t.server.context.store.listAudit({ limit: 1000 });
    expect(audit.filter((r) => r.action === 'job.submit' && r.target === 'routes').map((r) => r.result)).toEqual(['ok', 'ok']);
    expect(audit.some((r) => r.action === 'job.stop' && r.target === 'routes')).toBe(true);
    expect(audit.some((r) => r.action === 'job.purge' && r.target === 'routes')).toBe(true);
  });

  it('plan and parse a job file; their 400s name the line and field', async () => {
    const plan = await t.api('POST', '/api/v1/jobs/plan', { source: jobFile('dry', 5) }, viewerToken);
    expect(plan.status, plan.text).toBe(200);
    expect(plan.body).toMatchObject({ job: 'dry', version: null, unchanged: 0, stops: [] });
    expect(plan.body.placements).toHaveLength(4);
    expect(plan.body.failures[0]).toMatchObject({ group: 'web', unplaced: 1 });
    expect((await t.api('GET', '/api/v1/jobs/dry')).status).toBe(404);

    const parsed = await t.api('POST', '/api/v1/jobs/parse', { source: jobFile('parsed', 2) }, viewerToken);
    expect(parsed.status).toBe(200);
    expect(parsed.body.spec).toEqual(parseJobFile(jobFile('parsed', 2)));
    expect(parsed.body.specHash).toMatch(/^[0-9a-f]{64}$/);

    const bad = await t.api('POST', '/api/v1/jobs/parse', { source: 'name: ok\nallocations:\n  web:\n    count: lots\n' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.problems[0]).toMatchObject({ line: 4, path: 'allocations.web.count' });
    expect((await t.api('POST', '/api/v1/jobs/plan', { source: 'name: [' })).status).toBe(400);
  });

  it('refuses garbage: bad JSON, wrong shapes, tampered or unauthorized jobs, bad names, unknown jobs, huge bodies, wrong roles', async () => {
    const raw = await fetch(`${t.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
      body: '{"signed":',
    });
    expect(raw.status).toBe(400);
    for (const body of [
      null,
      {},
      { signed: 'x' },
      { signed: { payload: {}, sig: 'x' } },
      { signed: signed('shape'), extra: 1 },
      { signed: signed('shape'), source: 7 },
    ]) {
      const r = await t.api('POST', '/api/v1/jobs', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_argument');
    }
    const tampered = signed('tampered');
    tampered.payload.job.allocations.web!.env = { EVIL: '1' };
    const t1 = await t.api('POST', '/api/v1/jobs', { signed: tampered });
    expect(t1.status).toBe(400);
    expect(t1.body.error.message).toMatch(/changed after signing/);
    const stranger = await t.api('POST', '/api/v1/jobs', { signed: signed('stranger', 1, {}, generateEd25519()) });
    expect(stranger.status).toBe(403);
    expect(stranger.body.error.message).toMatch(/workload\/run/);
    const huge = await t.api('POST', '/api/v1/jobs', { signed: signed('huge'), source: 'x'.repeat(4 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    const bigSource = await t.api('POST', '/api/v1/jobs/plan', { source: 'x'.repeat(1_048_577) });
    expect(bigSource.status).toBe(400);
    expect((await t.api('POST', '/api/v1/jobs', { signed: signed('viewer') }, viewerToken)).status).toBe(403);
    expect((await t.api('POST', '/api/v1/jobs', { signed: signed('anon') }, null)).status).toBe(401);

    for (const name of ['Bad_Name', '-x', 'a'.repeat(64), '%20', 'x%2Fy']) {
      expect((await t.api('GET', `/api/v1/jobs/${name}`)).status, name).toBe(400);
      expect((await t.api('POST', `/api/v1/jobs/${name}/stop`, {})).status, name).toBe(400);
    }
    expect((await t.api('GET', '/api/v1/jobs/nosuchjob')).status).toBe(404);
    const unknownStop = await t.api('POST', '/api/v1/jobs/nosuchjob/stop', {});
    expect(unknownStop.status).toBe(404);
    expect(unknownStop.body.error.message).toMatch(/no job 'nosuchjob'/);
    expect((await t.api('POST', '/api/v1/jobs/nosuchjob/stop', { purge: 'yes' })).status).toBe(400);
    expect((await t.api('POST', '/api/v1/jobs/nosuchjob/stop', { reason: 'r'.repeat(501) })).status).toBe(400);
    expect((await t.api('POST', '/api/v1/jobs/nosuchjob/stop', { unknown: true })).status).toBe(400);
    expect((await t.api('POST', '/api/v1/jobs/parse', { source: '' })).status).toBe(400);
    expect((await t.api('POST', '/api/v1/jobs/parse', { source: 1 })).status).toBe(400);
    expect((await t.api('GET', '/api/v1/jobs?access_token=x')).status).toBe(401);
    // Nothing of the refused ones was stored.
    expect((await t.api('GET', '/api/v1/jobs')).body.items.map((j: { name: string }) => j.name)).not.toContain('tampered');
  });
});
