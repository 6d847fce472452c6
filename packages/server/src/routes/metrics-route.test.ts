import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ed25519KeyPair, GpuSample } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';
import { testGpu, testGpuSample } from '../testing/fake-host.js';
import { acceptsGzip } from '../metrics/scrape-encoding.js';

/** /metrics as Prometheus scrapes it: a real server, a real agent session, raw HTTP. */

let t: TestServer;
let key: Ed25519KeyPair;
let client: ProtocolClient;

function gpuSample(index: number, extra: Partial<GpuSample>) {
  return testGpuSample(index, extra);
}

/** One GET with exactly these headers (fetch would add and undo Accept-Encoding by itself). */
function scrape(headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.url}/metrics`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  t = await startTestServer();
  key = await enrollTestNode(t, 'scrape-node');
  client = await ProtocolClient.connect(t.url);
  await client.hello(key);
  // GPU 0 from a current agent (remapped rows, PCIe replays); GPU 1 as an older agent sends it.
  client.send({
    t: 'metrics',
    body: {
      ts: Date.now(),
      host: { cpuPct: 1, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] },
      gpus: [gpuSample(0, { remappedRowsCorrectable: 2, remappedRowsUncorrectable: 1, pcieReplayCount: 7 }), gpuSample(1, {})],
    },
  });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !(await t.api('GET', '/api/v1/nodes/scrape-node')).body?.gpus?.[0]?.sample) await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => {
  client?.close();
  await t?.close();
});

describe('GET /metrics', () => {
  it('gzips the text when the scraper asks, as Prometheus does', async () => {
    const res = await scrape({ authorization: `Bearer ${t.adminToken}`, 'accept-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers.vary).toMatch(/accept-encoding/i);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = gunzipSync(res.body).toString('utf8');
    expect(res.body.length).toBeLessThan(text.length / 3);
    const labels = `gpu="0",UUID="${testGpu(0).uuid}",pci_bus_id="00000000:17:00.0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="scrape-node",hostname="scrape-node",node="${key.did}"`;
    expect(text).toContain(`DCGM_FI_DEV_GPU_UTIL{${labels}} 87\n`);
    expect(text).toContain(`DCGM_FI_DEV_PCIE_REPLAY_COUNTER{${labels}} 7\n`);
    expect(text).toContain(`DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS{${labels}} 2\n`);
    expect(text).toContain(`DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{${labels}} 1\n`);
    // The older agent's GPU has no such readings: no line, not a 0.
    expect(text).not.toMatch(/DCGM_FI_DEV_PCIE_REPLAY_COUNTER\{gpu="1"/);
    expect(text).toMatch(/DCGM_FI_DEV_GPU_UTIL\{gpu="1",[^}]*\} 87/);
    expect(text).toContain(`gpufleet_node_connected{node="${key.did}",hostname="scrape-node"} 1\n`);
  });

  it('sends plain text to a scraper that does not take gzip', async () => {
    for (const accept of [null, 'identity', 'gzip;q=0', 'br', 'g z i p']) {
      const res = await scrape({ authorization: `Bearer ${t.adminToken}`, ...(accept === null ? {} : { 'accept-encoding': accept }) });
      expect(res.status, String(accept)).toBe(200);
      expect(res.headers['content-encoding'], String(accept)).toBeUndefined();
      expect(res.body.toString('utf8')).toContain('# TYPE DCGM_FI_DEV_GPU_UTIL gauge');
    }
  });

  it('needs a token, gzip or not', async () => {
    const res = await scrape({ 'accept-encoding': 'gzip' });
    expect(res.status).toBe(401);
    expect(res.headers['content-encoding']).toBeUndefined();
  });
});

describe('acceptsGzip', () => {
  it('reads Accept-Encoding with q-values, and garbage as no', () => {
    expect(acceptsGzip('gzip')).toBe(true);
    expect(acceptsGzip('deflate, GZIP;q=0.5')).toBe(true);
    expect(acceptsGzip('x-gzip')).toBe(true);
    expect(acceptsGzip('*')).toBe(true);
    expect(acceptsGzip(['br', 'gzip'])).toBe(true);
    expect(acceptsGzip('gzip;q=0')).toBe(false);
    expect(acceptsGzip('gzip;q=0, *')).toBe(false);
    expect(acceptsGzip('*;q=0')).toBe(false);
    expect(acceptsGzip('gzip;q=abc')).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
    expect(acceptsGzip('')).toBe(false);
    expect(acceptsGzip(';;;,,,q=')).toBe(false);
    expect(acceptsGzip('gzipped')).toBe(false);
  });
});
