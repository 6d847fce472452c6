import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, gpuSampleOf, type MetricsBody } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../../../server/src/testing/test-server.js';
import { enrollTestNode } from '../../../server/src/testing/protocol-client.js';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

/**
 * `gpufleet nodes ls --sort` against a real control plane: three enrolled nodes whose latest
 * samples (fed into the server's metric store) order them differently by temperature than by
 * name, and one that never reported.
 */

let t: TestServer;

function sample(temps: number[]): MetricsBody {
  const gpus = temps.map((temperatureC, i) => ({
    ...gpuSampleOf(emptyGpuSnapshot('nvidia', i)),
    uuid: `GPU-${i}`,
    temperatureC,
    utilizationPct: 100 - temperatureC,
  }));
  return { ts: Date.now(), host: { cpuPct: 1, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] }, gpus };
}

beforeAll(async () => {
  t = await startTestServer();
  const temps: Record<string, number[] | null> = { 'alpha-01': [50, 61], 'bravo-02': [83, 40], 'charlie-03': [70, 70], 'delta-04': null };
  for (const [host, readings] of Object.entries(temps)) {
    const { did } = await enrollTestNode(t, host);
    if (readings) t.server.context.metrics.ingest(did, sample(readings));
  }
});
afterAll(() => t.close());

async function ls(...args: string[]) {
  const io = captureIo({ columns: 200 });
  const code = await runCli(['nodes', 'ls', ...args, '--server', t.url, '--token', t.adminToken], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}
const names = (stdout: string) =>
  stdout
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((line) => line.split(/\s+/)[0]);

describe('gpufleet nodes ls --sort', () => {
  it('orders by the hottest GPU, descending with a leading -, no reading last', async () => {
    const desc = await ls('--sort', '-temp');
    expect(desc.code, desc.stderr).toBe(0);
    expect(names(desc.stdout)).toEqual(['bravo-02', 'charlie-03', 'alpha-01', 'delta-04']);
    const asc = await ls('--sort=temp');
    expect(names(asc.stdout)).toEqual(['alpha-01', 'charlie-03', 'bravo-02', 'delta-04']);
  });

  it('sorts JSON output and combines with --limit', async () => {
    const r = await ls('--sort', '-util', '--limit', '2', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as { items: { hostname: string }[]; total: number };
    // util = 100 - temp: alpha 44.5, bravo 38.5, charlie 30.
    expect(list.items.map((n) => n.hostname)).toEqual(['alpha-01', 'bravo-02']);
    expect(list.total).toBe(4);
  });

  it('refuses an unknown key before asking the server, naming the keys', async () => {
    const r = await ls('--sort', 'heat');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sort 'heat': sort must be one of hostname, status, gpus, util, temp, power, lastSeen/);
  });
});
