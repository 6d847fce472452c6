import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseReader } from '../testing/sse-reader.js';
import { resolveSseLimits, SseStream, type SseKind, type SseLimits } from './sse-stream.js';

/** A real HTTP server whose every request becomes an SseStream the test drives by hand. */
async function sseServer(kind: SseKind, limits: Partial<SseLimits>): Promise<{ url: string; server: Server; next: () => Promise<SseStream> }> {
  const waiting: Array<(s: SseStream) => void> = [];
  const server = createServer((_req, res) => waiting.shift()?.(new SseStream(res, resolveSseLimits(limits), kind)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, server, next: () => new Promise((r) => waiting.push(r)) };
}

const servers: Server[] = [];
const readers: SseReader[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function open(kind: SseKind, limits: Partial<SseLimits>): Promise<{ stream: SseStream; reader: SseReader; server: Server }> {
  const srv = await sseServer(kind, limits);
  servers.push(srv.server);
  const [stream, reader] = await Promise.all([srv.next(), SseReader.open(srv.url, '/', null)]);
  readers.push(reader);
  return { stream, reader, server: srv.server };
}

const connections = (server: Server) => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

const tick = () => new Promise((r) => setImmediate(r));
const PIECE = 'x'.repeat(4096);

/** Sends events to a reader that takes nothing until the stream closes or `bytesToTry` went out. */
async function flood(stream: SseStream, bytesToTry: number): Promise<{ sent: number; maxBuffered: number }> {
  let sent = 0;
  let maxBuffered = 0;
  while (stream.isOpen && sent * PIECE.length < bytesToTry) {
    for (let i = 0; i < 16 && stream.isOpen; i++) {
      stream.send('piece', { n: sent++, pad: PIECE });
      maxBuffered = Math.max(maxBuffered, stream.buffered);
    }
    await tick();
  }
  return { sent, maxBuffered };
}

describe('SseStream', () => {
  it('refuses unknown and non-positive limits', () => {
    expect(() => resolveSseLimits({ softLimitBytes: 0 })).toThrow(/softLimitBytes/);
    expect(() => resolveSseLimits({ hardLimitBites: 5 } as never)).toThrow(/unknown SSE limit 'hardLimitBites'/);
    expect(resolveSseLimits({ stallTimeoutMs: 5 })).toMatchObject({ stallTimeoutMs: 5, softLimitBytes: 1024 * 1024 });
  });

  it('delivers every event in order to a reader that stops for a while and comes back', async () => {
    const { stream, reader } = await open('lossless', { hardLimitBytes: 64 * 1024 * 1024 });
    reader.pause();
    const { sent } = await flood(stream, 8 * 1024 * 1024);
    expect(stream.isOpen).toBe(true);
    expect(stream.buffered).toBeGreaterThan(0);
    const drained = stream.drained();
    reader.resume();
    await drained;
    stream.end();
    await reader.ended;
    const pieces = reader.events.filter((e) => e.event === 'piece').map((e) => e.data.n);
    expect(pieces).toEqual(Array.from({ length: sent }, (_, i) => i));
  });

  it('closes a lossless stream whose reader falls past the hard limit, saying why, and never holds much more', async () => {
    const hardLimitBytes = 256 * 1024;
    const { stream, reader } = await open('lossless', { hardLimitBytes, closeGraceMs: 10_000 });
    reader.pause();
    const { maxBuffered } = await flood(stream, 256 * 1024 * 1024);
    expect(stream.isOpen).toBe(false);
    // At most one event past the limit, then the stream closed.
    expect(maxBuffered).toBeLessThanOrEqual(hardLimitBytes + PIECE.length + 200);
    // A reader that is only slow gets the reason before the stream ends, and can reconnect.
    reader.resume();
    await reader.ended;
    const last = reader.events.at(-1)!;
    expect(last.event).toBe('closing');
    expect(last.data.reason).toMatch(/fell more than 256 KiB behind.*REST API/);
  });

  it('cuts off a reader that does not take the closing event within the grace time', async () => {
    // Large enough that the kernel's socket buffers are full: the closing event cannot go out.
    const { stream, reader, server } = await open('lossless', { hardLimitBytes: 8 * 1024 * 1024, closeGraceMs: 100 });
    reader.pause();
    await flood(stream, 256 * 1024 * 1024);
    expect(stream.isOpen).toBe(false);
    // The stalled reader notices nothing (it reads nothing); the server lets go of the connection
    // (left alone, an unfinished response would hold it, and its backlog, for good).
    expect(await connections(server)).toBe(1);
    while ((await connections(server)) > 0) await new Promise((r) => setTimeout(r, 20));
  });

  it('never closes a latest-state stream for its size: its writer keeps to the soft limit itself', async () => {
    const { stream, reader } = await open('latest-state', { hardLimitBytes: 64 * 1024 });
    reader.pause();
    await flood(stream, 16 * 1024 * 1024);
    expect(stream.isOpen).toBe(true);
    expect(stream.buffered).toBeGreaterThan(64 * 1024);
    let drainedAt: number | null = null;
    stream.whenDrained(() => (drainedAt = stream.buffered));
    await tick();
    expect(drainedAt).toBeNull();
    reader.resume();
    await stream.drained();
    expect(drainedAt).not.toBeNull();
  });
});
