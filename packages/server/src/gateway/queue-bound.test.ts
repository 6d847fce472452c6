import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, type Ed25519KeyPair } from '@gpufleet/protocol';
import { SQLITE_FILE_NAME } from '../store/open-store.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';

/**
 * A node cannot grow the server's memory by sending outbox items faster than they are stored:
 * past 8 MiB waiting its session is closed, and nothing is lost (the agent replays from its ack).
 */

let t: TestServer;
let key: Ed25519KeyPair;
beforeAll(async () => {
  t = await startTestServer();
  key = await enrollTestNode(t, 'flood-node');
});
afterAll(() => t.close());

const big = (seq: number) => ({
  t: 'event',
  seq,
  body: { id: `f-${seq}`, ts: Date.now(), kind: 'kernel-log', gpuUuid: null, pciBusId: null, message: `flood ${seq}`, data: { blob: 'x'.repeat(900_000) } },
});

describe('outbox items waiting to be stored', () => {
  it('close the session past the bound, and the agent replays the rest after reconnecting', async () => {
    const c = await ProtocolClient.connect(t.url);
    const welcome = await c.hello(key);
    const base = welcome.body.ackedSeq;
    for (let i = 1; i <= 16; i++) c.send(big(base + i));
    expect(await c.closed).toBe(CLOSE_CODES.goingAway);
    expect(c.closeReason).toMatch(/too many items waiting to be stored/);

    // Reconnect until everything is stored, replaying from the last ack like the agent does.
    let acked = base;
    for (let attempt = 0; attempt < 10 && acked < base + 16; attempt++) {
      await new Promise((r) => setTimeout(r, 200));
      const again = await ProtocolClient.connect(t.url);
      acked = (await again.hello(key)).body.ackedSeq;
      for (let s = acked + 1; s <= Math.min(acked + 4, base + 16); s++) again.send(big(s));
      if (acked + 4 >= base + 16) {
        await again.next((f) => f.t === 'ack' && f.body.seq === base + 16, 10_000);
        acked = base + 16;
      } else {
        await again.next((f) => f.t === 'ack' && f.body.seq === acked + 4, 10_000);
      }
      again.close();
      await again.closed;
    }
    expect(acked).toBe(base + 16);
    // All 16 stored once, each cut down to the per-event size limit (the 900 kB blob replaced by a note).
    const db = new BetterSqlite3(join(t.dataDir, SQLITE_FILE_NAME), { readonly: true, fileMustExist: true });
    try {
      const rows = db
        .prepare('select seq, length(data) as bytes, data from agent_events where node_id = ? and seq > ? order by seq')
        .all(key.did, base) as Array<{ seq: number; bytes: number; data: string }>;
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 16 }, (_, i) => base + i + 1));
      for (const r of rows) {
        expect(r.bytes).toBeLessThan(64 * 1024);
        expect(JSON.parse(r.data)).toEqual({ truncated: { bytes: expect.any(Number), fields: ['blob'] } });
      }
    } finally {
      db.close();
    }
  }, 60_000);
});
