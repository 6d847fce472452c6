import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../http/app.js';
import { nodeId, runKit, type RunKit } from '../runs/__tests__/run-kit.js';
import { serveRunRoutes } from '../runs/__tests__/run-routes-app.js';
import { SseReader } from '../testing/sse-reader.js';
import { DEFAULT_SSE_LIMITS } from '../streams/sse-stream.js';

// A run stream must not lose output, whatever the reader's pace: its stored history (here more
// than the hard limit at which a lossless stream gives up on a reader) goes out at the reader's pace.
const HOSTS = 4;
const CHUNK = 64 * 1024;
const CHUNKS_PER_HOST = Math.ceil((DEFAULT_SSE_LIMITS.hardLimitBytes * 1.25) / (HOSTS * CHUNK));

let kit: RunKit;
let app: App;
let url: string;
let viewer = '';

let operatorToken = '';

beforeAll(async () => {
  kit = await runKit(HOSTS, { service: { outputLimitBytes: 64 * 1024 * 1024 } });
  const served = await serveRunRoutes(kit);
  ({ app, url } = served);
  viewer = served.tokens.viewer;
  operatorToken = served.tokens.operator;
});
afterAll(async () => {
  await app?.close();
  await kit?.close();
});

describe('GET /api/v1/runs/{id}/stream with a slow reader', () => {
  it(`delivers a history larger than the hard limit (${HOSTS} x ${CHUNKS_PER_HOST} x 64 KiB) whole and in order to a reader that stalls, then the live end`, async () => {
    const submitted = await app.inject({
      method: 'POST',
      url: '/api/v1/runs',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ command: kit.command() }),
    });
    expect(submitted.statusCode).toBe(201);
    const id = JSON.parse(submitted.body).id as string;
    for (let c = 0; c < CHUNKS_PER_HOST; c++) {
      for (let n = 0; n < HOSTS; n++) kit.report(nodeId(n), 'run-output', { runId: id, stream: 'stdout', chunk: c, data: `${n}:${c}:`.padEnd(CHUNK, '.') });
    }
    await kit.service.flush();

    const reader = await SseReader.open(url, `/api/v1/runs/${id}/stream`, viewer, 60_000);
    reader.pause();
    // Long enough for an unpaced history to pile up past the hard limit and be cut off.
    await new Promise((r) => setTimeout(r, 1500));
    reader.resume();
    const lastChunk = reader.next((e) => e.event === 'output' && e.data.chunk === CHUNKS_PER_HOST - 1 && e.data.nodeId === nodeId(HOSTS - 1));
    const cutOff = reader.ended.then(() =>
      Promise.reject(new Error(`the stream ended early, last event: ${JSON.stringify(reader.events.at(-1)).slice(0, 200)}`)),
    );
    await Promise.race([lastChunk, cutOff]);
    cutOff.catch(() => undefined);
    for (let n = 0; n < HOSTS; n++) kit.result(nodeId(n), id);
    await reader.ended;

    expect(reader.events.some((e) => e.event === 'closing')).toBe(false);
    expect(reader.events.at(-1)?.event).toBe('done');
    for (let n = 0; n < HOSTS; n++) {
      const chunks = reader.events
        .filter((e) => e.event === 'output' && e.data.nodeId === nodeId(n))
        .map((e) => e.data.data.slice(0, e.data.data.indexOf(':', 2) + 1));
      expect(chunks).toEqual(Array.from({ length: CHUNKS_PER_HOST }, (_, c) => `${n}:${c}:`));
    }
  });
});
