import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { containerRef, EngineClient, sinceParam } from './engine-client.js';
import type { LogLine } from './log-frames.js';

// A fake engine on a unix socket: each test installs the handler it needs. The real engine is
// exercised in test/containers/; these cover the replies a real one rarely gives.
let dir: string;
let socketPath: string;
let server: Server;
let handler: (req: IncomingMessage, res: ServerResponse) => void;
const seen: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gf-eng-'));
  socketPath = join(dir, 'engine.sock');
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  seen.length = 0;
});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const inspectReply = (tty: boolean) => ({
  Id: 'abc123def456aaaa',
  Name: '/web',
  Config: { Tty: tty, Image: 'img:1' },
  State: { Status: 'running', Running: true, StartedAt: '2026-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z', ExitCode: 0 },
});

async function caught(p: Promise<unknown>): Promise<FleetError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof FleetError) return err;
    throw err;
  }
  throw new Error('expected a FleetError');
}

async function collect(it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of it) out.push(l);
  return out;
}

describe('EngineClient against a fake engine', () => {
  it('lists containers with the names and times normalised', async () => {
    handler = (_req, res) => json(res, 200, [{ Id: 'a1', Names: ['/web'], Image: 'nginx', State: 'running', Status: 'Up 2 minutes', Created: 1_700_000_000 }]);
    const list = await new EngineClient({ socketPath }).list({ all: true });
    expect(list).toEqual([{ id: 'a1', name: 'web', image: 'nginx', state: 'running', status: 'Up 2 minutes', created: 1_700_000_000_000 }]);
    expect(seen).toEqual(['GET /v1.41/containers/json?all=true']);
  });

  it('keeps the engine message of a 404 as not_found', async () => {
    handler = (_req, res) => json(res, 404, { message: 'No such container: nope' });
    const err = await caught(new EngineClient({ socketPath }).inspect('nope'));
    expect(err.code).toBe('not_found');
    expect(err.message).toBe('No such container: nope');
  });

  it('maps 409 to conflict and a 500 with a text body to tool_failure with that text', async () => {
    handler = (_req, res) => json(res, 409, { message: 'container is paused' });
    expect((await caught(new EngineClient({ socketPath }).restart('web'))).code).toBe('conflict');
    handler = (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('runtime exploded');
    };
    const err = await caught(new EngineClient({ socketPath }).stop('web'));
    expect([err.code, err.message]).toEqual(['tool_failure', 'runtime exploded']);
  });

  it('reports 304 as nothing changed and 204 as changed, with the stop grace time sent', async () => {
    handler = (_req, res) => {
      res.writeHead(304);
      res.end();
    };
    expect(await new EngineClient({ socketPath }).stop('web', { stopTimeoutS: 3 })).toEqual({ changed: false });
    handler = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    expect(await new EngineClient({ socketPath }).start('web')).toEqual({ changed: true });
    expect(seen).toEqual(['POST /v1.41/containers/web/stop?t=3', 'POST /v1.41/containers/web/start']);
  });

  it('refuses a reply that is not JSON or not a list', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>proxy</html>');
    };
    expect((await caught(new EngineClient({ socketPath }).list())).message).toMatch(/not JSON/);
    handler = (_req, res) => json(res, 200, { not: 'a list' });
    expect((await caught(new EngineClient({ socketPath }).list())).message).toMatch(/not a list/);
    handler = (_req, res) => json(res, 200, { Name: '/no-id' });
    expect((await caught(new EngineClient({ socketPath }).inspect('x'))).message).toMatch(/without an Id/);
  });

  it('refuses references that are not ids or names before calling the engine', async () => {
    const client = new EngineClient({ socketPath });
    for (const bad of ['', '../images/json', 'a/b', 'web?x=1', '-rf', 'x'.repeat(300)]) {
      expect((await caught(client.inspect(bad))).code, bad).toBe('invalid_argument');
    }
    expect(seen).toEqual([]);
    expect(containerRef('/web')).toBe('web');
  });

  it('fails with unavailable when nothing listens on the socket', async () => {
    const err = await caught(new EngineClient({ socketPath: join(dir, 'absent.sock') }).list());
    expect(err.code).toBe('unavailable');
    expect(err.message).toContain('absent.sock (ENOENT)');
  });

  it('gives up on a silent engine after the timeout', async () => {
    handler = () => undefined; // never answers
    const started = Date.now();
    const err = await caught(new EngineClient({ socketPath, timeoutMs: 200 }).list());
    expect(err.code).toBe('unavailable');
    expect(err.message).toMatch(/did not answer/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('decodes multiplexed logs and sends tail and since', async () => {
    handler = (req, res) => {
      if (req.url!.includes('/json')) return json(res, 200, inspectReply(false));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const f = (t: number, s: string) => Buffer.concat([Buffer.from([t, 0, 0, 0]), Buffer.from([0, 0, 0, s.length]), Buffer.from(s)]);
      res.end(Buffer.concat([f(1, 'a\n'), f(2, 'b\n')]));
    };
    const lines = await collect(new EngineClient({ socketPath }).logs('web', { tail: 5, sinceMs: 1_700_000_000_250 }));
    expect(lines).toEqual([
      { stream: 'stdout', text: 'a' },
      { stream: 'stderr', text: 'b' },
    ]);
    expect(seen[1]).toBe('GET /v1.41/containers/abc123def456aaaa/logs?stdout=true&stderr=true&follow=false&tail=5&since=1700000000.250000000');
  });

  it('reads a TTY container as one raw stream', async () => {
    handler = (req, res) => {
      if (req.url!.includes('/json')) return json(res, 200, inspectReply(true));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('\u0001\u0000\u0000\u0000raw\r\nline 2\r\n');
    };
    const lines = await collect(new EngineClient({ socketPath }).logs('web'));
    expect(lines.map((l) => l.text)).toEqual(['\u0001\u0000\u0000\u0000raw', 'line 2']);
  });

  it('fails with tool_failure on a garbage multiplexed stream', async () => {
    handler = (req, res) => {
      if (req.url!.includes('/json')) return json(res, 200, inspectReply(false));
      res.writeHead(200);
      res.end('this is not framed at all\n');
    };
    const err = await caught(collect(new EngineClient({ socketPath }).logs('web')));
    expect(err.code).toBe('tool_failure');
    expect(err.message).toMatch(/malformed log stream/);
  });

  it('fails a finite log read when the engine goes silent mid-stream, but lets a followed one wait', async () => {
    handler = (req, res) => {
      if (req.url!.includes('/json')) return json(res, 200, inspectReply(true));
      res.writeHead(200);
      res.write('first\n'); // and nothing more, never the end
    };
    const started = Date.now();
    const err = await caught(collect(new EngineClient({ socketPath, timeoutMs: 300 }).logs('web')));
    expect(err.code).toBe('unavailable');
    expect(err.message).toMatch(/stopped sending within/);
    expect(Date.now() - started).toBeLessThan(5_000);
    // Followed: no deadline once open; still waiting after the timeout, until the caller aborts.
    const ac = new AbortController();
    const lines: string[] = [];
    const done = (async () => {
      for await (const l of new EngineClient({ socketPath, timeoutMs: 100 }).logs('web', { follow: true, signal: ac.signal })) lines.push(l.text);
    })();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(lines).toEqual(['first']);
    ac.abort();
    await done;
  });

  it('ends a followed stream quietly when aborted, and the engine sees the connection close', async () => {
    let closed = false;
    handler = (req, res) => {
      if (req.url!.includes('/json')) return json(res, 200, inspectReply(true));
      res.writeHead(200);
      res.write('first\n');
      res.on('close', () => (closed = true));
    };
    const ac = new AbortController();
    const lines: string[] = [];
    for await (const l of new EngineClient({ socketPath }).logs('web', { follow: true, signal: ac.signal })) {
      lines.push(l.text);
      ac.abort();
    }
    expect(lines).toEqual(['first']);
    await expect.poll(() => closed).toBe(true);
  });

  it('formats since as seconds.nanoseconds and refuses bad values', () => {
    expect(sinceParam(0)).toBe('0.000000000');
    expect(sinceParam(1_234_567)).toBe('1234.567000000');
    expect(() => sinceParam(-1)).toThrow(/not a log start time/);
    expect(() => sinceParam(Number.NaN)).toThrow(/not a log start time/);
  });
});
