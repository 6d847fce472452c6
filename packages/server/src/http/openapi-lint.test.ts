import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { finishOpenApiDocument } from './openapi-document.js';
import { deriveOperationId, OperationIds } from './operation-ids.js';

/** The served /openapi.json passes `redocly lint` with the repository's redocly.yaml, with nothing to report. */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const REDOCLY = join(ROOT, 'node_modules/.bin/redocly');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

let t: TestServer;
let spec: any;
let dir: string;
beforeAll(async () => {
  t = await startTestServer();
  spec = (await t.api('GET', '/openapi.json', undefined, null)).body;
  dir = mkdtempSync(join(tmpdir(), 'openapi-lint-'));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

interface LintResult {
  code: number;
  totals: { errors: number; warnings: number };
  problems: Array<{ ruleId: string; message: string }>;
}

function lint(doc: unknown, name: string): Promise<LintResult> {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(doc));
  return new Promise((resolveLint, reject) => {
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
    execFile(
      REDOCLY,
      ['lint', file, '--config', join(ROOT, 'redocly.yaml'), '--format=json', '--max-problems', '1000'],
      { env, cwd: dir, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        try {
          const report = JSON.parse(stdout.slice(stdout.indexOf('{')));
          resolveLint({ code, totals: report.totals, problems: report.problems });
        } catch {
          reject(new Error(`redocly gave no JSON report (exit ${code}): ${stderr.slice(-2000)}`));
        }
      },
    );
  });
}

const operations = (doc: any) =>
  Object.entries<any>(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => ({ path, method: m, op: item[m] })));

describe('the served OpenAPI document', () => {
  it('is clean under redocly lint (no errors, no warnings)', async () => {
    const r = await lint(spec, 'openapi.json');
    expect(r.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(r.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(r.code).toBe(0);
  }, 90_000);

  it('and the lint does fail a document without operationIds, 4xx responses and servers', async () => {
    const broken = structuredClone(spec);
    delete broken.servers;
    for (const { op } of operations(broken)) {
      delete op.operationId;
      for (const status of Object.keys(op.responses)) if (status !== '200') delete op.responses[status];
    }
    const r = await lint(broken, 'broken.json');
    expect(r.code).not.toBe(0);
    expect([...new Set(r.problems.map((p) => p.ruleId))]).toEqual(
      expect.arrayContaining(['no-empty-servers', 'operation-operationId', 'operation-4xx-response']),
    );
  }, 90_000);

  it('gives every operation a unique operationId, the error envelope on its 4xx, and servers', () => {
    const ops = operations(spec);
    expect(ops.length).toBeGreaterThan(40);
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ops.find((o) => o.path === '/api/v1/nodes/{ref}/stream')?.op.operationId).toBe('getNodesByRefStream');
    for (const { op } of ops) {
      expect(op.responses['401']).toEqual({ $ref: '#/components/responses/Unauthenticated' });
      expect(op.responses.default).toEqual({ $ref: '#/components/responses/Error' });
    }
    expect(spec.components.responses.NotFound.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(spec.components.schemas.Error.properties.error.required).toEqual(['code', 'message']);
    // The public enrollment route needs no token, so it has no 403.
    const enroll = ops.find((o) => o.path === '/api/v1/enroll')!.op;
    expect([enroll.security, enroll.responses['403']]).toEqual([[], undefined]);
    expect(spec.servers).toEqual([{ url: '/', description: expect.any(String) }]);
  });
});

describe('operationIds', () => {
  it('derive from method and path', () => {
    expect(deriveOperationId('GET', '/api/v1/nodes')).toBe('getNodes');
    expect(deriveOperationId('POST', '/api/v1/nodes/:ref/gpus/:gpu/cordon')).toBe('postNodesByRefGpusByGpuCordon');
    expect(deriveOperationId('GET', '/api/v1/join-tokens')).toBe('getJoinTokens');
    expect(deriveOperationId('GET', '/v1/ca.pem')).toBe('getV1CaPem');
    expect(deriveOperationId('GET', '/')).toBe('getRoot');
    expect(deriveOperationId('GET', '/*')).toBe('getWildcard');
  });

  it('keep an explicit id, refuse a clash and a garbage id', () => {
    const ids = new OperationIds();
    expect(ids.assign('GET', '/api/v1/nodes')).toBe('getNodes');
    expect(ids.assign('GET', '/api/v1/x', 'listThings')).toBe('listThings');
    expect(() => ids.assign('GET', '/nodes')).toThrow(/operationId 'getNodes' is already used by GET \/api\/v1\/nodes/);
    expect(() => ids.assign('GET', '/api/v1/y', 'listThings')).toThrow(/already used/);
    for (const bad of ['', 'has space', 7, '1st']) expect(() => ids.assign('GET', '/api/v1/z', bad)).toThrow(/must be an identifier/);
  });
});

describe('finishOpenApiDocument', () => {
  it('keeps a route’s own 4xx, names publicUrl as the server, drops an untyped nullable, and leaves its input alone', () => {
    const input = {
      openapi: '3.0.3',
      info: { title: 't', version: '1' },
      paths: {
        '/a/{id}': {
          post: {
            responses: { 200: { description: 'ok' }, 404: { description: 'own' } },
            requestBody: {
              content: { 'application/json': { schema: { type: 'object', properties: { x: { nullable: true }, y: { type: 'string', nullable: true } } } } },
            },
          },
        },
      },
    };
    const copy = structuredClone(input);
    const doc = finishOpenApiDocument(input, { publicUrl: 'https://fleet.example:7420', license: 'Apache-2.0' });
    expect(input).toEqual(copy);
    const op = doc.paths['/a/{id}'].post;
    expect(op.responses['404']).toEqual({ description: 'own' });
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '403', '404', '413', 'default']);
    expect(op.requestBody.content['application/json'].schema.properties).toEqual({ x: {}, y: { type: 'string', nullable: true } });
    expect(doc.servers).toEqual([{ url: 'https://fleet.example:7420', description: 'this control plane' }]);
  });
});
