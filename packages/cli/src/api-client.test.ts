import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type ApiError, transportMessage } from './api-client.js';
import { TransportError } from './http-request.js';
import { CliError } from './errors.js';
import { startFakeApi, type FakeApi } from './testing/fake-api.js';

let api: FakeApi;

beforeAll(async () => {
  api = await startFakeApi({
    'GET /api/v1/nodes': (req) =>
      req.headers.authorization === 'Bearer gft_good_token'
        ? { body: { items: [], total: 0 } }
        : { status: 401, body: { error: { code: 'unauthenticated', message: 'unknown token' } } },
    'GET /api/v1/nodes/ghost': () => ({ status: 404, body: { error: { code: 'not_found', message: "no node matches 'ghost'" } } }),
    'PATCH /api/v1/nodes/n1/labels': (req) => ({ body: { echoed: req.body } }),
    'DELETE /api/v1/join-tokens/jt1': () => ({ status: 204 }),
    'GET /api/v1/proxy': () => ({ status: 502, text: '<html>Bad Gateway</html>' }),
    'GET /api/v1/not-json': () => ({ status: 200, text: 'hello' }),
    'GET /api/v1/forbidden': () => ({ status: 403, body: { error: { code: 'permission_denied', message: 'this needs the admin role' } } }),
  });
});

afterAll(() => api.close());

const client = (token = 'gft_good_token', server = api.url) => new ApiClient({ server, token, source: 'test' });

async function failure(p: Promise<unknown>): Promise<CliError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  return err as CliError;
}

describe('ApiClient', () => {
  it('sends the bearer token and the query, and parses JSON', async () => {
    const list = await client().get<{ total: number }>('/api/v1/nodes', { selector: 'gpu.model=H100', limit: 5, skipped: undefined, empty: '' });
    expect(list).toEqual({ items: [], total: 0 });
    const seen = api.requests.at(-1)!;
    expect(seen.headers.authorization).toBe('Bearer gft_good_token');
    expect(seen.query).toEqual({ selector: 'gpu.model=H100', limit: '5' });
  });

  it('sends a JSON body', async () => {
    const r = await client().patch<{ echoed: unknown }>('/api/v1/nodes/n1/labels', { set: { a: 'b' } });
    expect(r.echoed).toEqual({ set: { a: 'b' } });
    expect(api.requests.at(-1)!.headers['content-type']).toBe('application/json');
  });

  it('resolves 204 with undefined', async () => {
    await expect(client().delete('/api/v1/join-tokens/jt1')).resolves.toBeUndefined();
  });

  it('maps 401 to a login hint', async () => {
    const err = await failure(client('gft_bad_token').get('/api/v1/nodes'));
    expect(err.message).toBe('the API token was refused: run `gpufleet login`');
    expect((err as ApiError).status).toBe(401);
  });

  it("uses the server's message for 404 and 403", async () => {
    const notFound = await failure(client().get('/api/v1/nodes/ghost'));
    expect(notFound.message).toBe("no node matches 'ghost'");
    expect((notFound as ApiError).code).toBe('not_found');
    const forbidden = await failure(client().get('/api/v1/forbidden'));
    expect(forbidden.message).toBe('this needs the admin role');
  });

  it('says which HTTP status came back when the body is not our error', async () => {
    const err = await failure(client().get('/api/v1/proxy'));
    expect(err.message).toBe('the control plane answered HTTP 502 Bad Gateway');
  });

  it('refuses a 200 reply that is not JSON', async () => {
    const err = await failure(client().get('/api/v1/not-json'));
    expect(err.message).toMatch(/sent a reply that is not JSON/);
  });

  it('maps connection refused to "is gpufleet server running?"', async () => {
    // A port that was just free: nothing listens there now.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const server = `http://127.0.0.1:${port}`;
    const err = await failure(client('gft_good_token', server).get('/api/v1/nodes'));
    expect(err.message).toBe(`cannot reach the control plane at ${server}: is \`gpufleet server\` running?`);
  });

  it('gives up on a server that never answers', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    try {
      const c = new ApiClient({ server: `http://127.0.0.1:${port}`, token: 'gft_a_b', source: 'test' }, { timeoutMs: 200 });
      const err = await failure(c.get('/api/v1/nodes'));
      expect(err.message).toBe(`the control plane at http://127.0.0.1:${port} did not answer within 200ms`);
    } finally {
      silent.close();
    }
  });

  it('names an untrusted TLS certificate and how to pin the CA', () => {
    for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED']) {
      const text = transportMessage('https://fleet.example:7420', new TransportError(code, 'x'), 15_000);
      expect(text).toBe(
        `the TLS certificate of the control plane at https://fleet.example:7420 is not trusted (${code}): run \`gpufleet login --server https://fleet.example:7420 --token <token> --ca-fingerprint <sha256 of its CA>\``,
      );
    }
    expect(transportMessage('http://h:1', new TransportError('ENOTFOUND', 'x'), 15_000)).toBe(
      'cannot reach the control plane at http://h:1: the host name does not resolve',
    );
  });

  it('reports a peer that drops the TLS handshake in one line', async () => {
    // A plain TCP server closing at once: the error must be one line, not a stack.
    const tcp = createServer((s) => s.destroy());
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const { port } = tcp.address() as AddressInfo;
    try {
      const err = await failure(client('gft_a_b', `https://127.0.0.1:${port}`).get('/api/v1/nodes'));
      expect(err.message).toMatch(/^(the control plane at https:\/\/127\.0\.0\.1:\d+ closed the connection|cannot (reach|speak TLS with) the control plane)/);
      expect(err.message).not.toContain('\n');
    } finally {
      tcp.close();
    }
  });
});
