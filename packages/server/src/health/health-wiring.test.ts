import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { ProtocolClient, enrollTestNode } from '../testing/protocol-client.js';
import { testGpu, testHostFacts } from '../testing/fake-host.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

describe('health wired into the control plane', () => {
  it('an XID 79 sent by an agent makes its GPU UNHEALTHY, in the API, the timeline and /metrics', async () => {
    const key = await enrollTestNode(t, 'wired-1');
    const c = await ProtocolClient.connect(t.url);
    expect((await c.hello(key)).t).toBe('welcome');
    c.send({ t: 'inventory', seq: 1, body: { host: testHostFacts('wired-1'), gpus: [testGpu(0), testGpu(1)], toolFailures: [] } });
    await c.next((f) => f.t === 'ack' && f.body.seq === 1);
    const line = "NVRM: Xid (PCI:0000:18:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.";
    c.send({
      t: 'event',
      seq: 2,
      body: { id: 'x1', ts: Date.now(), kind: 'xid', gpuUuid: null, pciBusId: '0000:18:00.0', message: line, data: { code: 79, line } },
    });
    await c.next((f) => f.t === 'ack' && f.body.seq === 2);
    let node: any;
    for (let i = 0; i < 50; i++) {
      node = (await t.api('GET', '/api/v1/nodes/wired-1')).body;
      if (node.gpus[1].state === 'UNHEALTHY') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(node.gpus.map((g: any) => g.state)).toEqual(['READY', 'UNHEALTHY']);
    expect(node.status).toBe('READY');
    expect(node.health.verdict).toBe('unhealthy');
    const ev = (await t.api('GET', '/api/v1/events?node=wired-1')).body.items.map((e: any) => e.kind);
    expect(ev).toEqual(expect.arrayContaining(['xid', 'verdict', 'transition']));
    expect((await t.api('POST', '/api/v1/nodes/wired-1/drain', { reason: 'test' })).body.status).toBe('DRAINED');
    expect((await t.api('POST', '/api/v1/nodes/wired-1/health/clear', { reason: 'reset' })).body.node.gpus[1].state).toBe('READY');
    c.close();
  });
});
