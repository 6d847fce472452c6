import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, type Ed25519KeyPair } from '@gpufleet/protocol';
import { SQLITE_FILE_NAME } from '../store/open-store.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';
import { testGpu, testHostFacts } from '../testing/fake-host.js';

/**
 * A PENDING node (its join token needs approval) gets nothing stored beyond its hello: its outbox
 * items are neither stored nor acknowledged, so the agent keeps them, and after approval they
 * arrive in order, once.
 */

let t: TestServer;
let key: Ed25519KeyPair;
beforeAll(async () => {
  t = await startTestServer();
  key = await enrollTestNode(t, 'pending-node', { needsApproval: true });
});
afterAll(() => t.close());

function event(seq: number) {
  return { t: 'event', seq, body: { id: `p-${seq}`, ts: Date.now(), kind: 'tool-failure', gpuUuid: null, pciBusId: null, message: `item ${seq}`, data: {} } };
}

/** The node's stored events, read from the SQLite file behind the server. */
function storedSeqs(): number[] {
  const db = new BetterSqlite3(join(t.dataDir, SQLITE_FILE_NAME), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('select seq from agent_events where node_id = ? order by seq').all(key.did) as Array<{ seq: number }>).map((r) => r.seq);
  } finally {
    db.close();
  }
}

describe('a PENDING node', () => {
  it('is welcomed, but its outbox items are not stored or acked until it is approved, then replayed in order', async () => {
    expect((await t.api('GET', '/api/v1/nodes/pending-node')).body.status).toBe('PENDING');
    const c = await ProtocolClient.connect(t.url);
    const welcome = await c.hello(key);
    expect(welcome.body).toMatchObject({ status: 'PENDING', ackedSeq: 0 });
    c.send(event(1));
    c.send(event(2));
    c.send({ t: 'inventory', seq: 3, body: { host: testHostFacts('pending-node'), gpus: [testGpu(0)], toolFailures: [] } });
    c.send({ t: 'heartbeat', body: { ts: Date.now() } });
    await new Promise((r) => setTimeout(r, 300));
    expect(c.received.filter((f) => f.t === 'ack' || f.t === 'error')).toEqual([]);
    expect(storedSeqs()).toEqual([]);
    expect(c.closeCode).toBeNull();

    expect((await t.api('POST', '/api/v1/nodes/pending-node/approve')).status).toBe(200);
    // The next frame after approval ends the session, so the agent replays what was held.
    c.send({ t: 'heartbeat', body: { ts: Date.now() } });
    expect(await c.closed).toBe(CLOSE_CODES.goingAway);
    expect(c.closeReason).toMatch(/approved/);

    const again = await ProtocolClient.connect(t.url);
    const back = await again.hello(key);
    expect(back.body).toMatchObject({ status: 'READY', ackedSeq: 0 });
    again.send(event(1));
    again.send(event(2));
    expect((await again.next((f) => f.t === 'ack' && f.body.seq === 2)).body.seq).toBe(2);
    expect(storedSeqs()).toEqual([1, 2]);
    again.close();
  });
});
