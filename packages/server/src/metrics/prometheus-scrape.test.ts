import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServerTls } from '../tls/ensure-server-tls.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { freePort } from '../testing/free-port.js';
import { requireTool } from '../testing/external-tool.js';

/**
 * docs/prometheus/prometheus.yml, tested: promtool accepts it, and a real Prometheus with it
 * (only the addresses, file paths and intervals changed) scrapes a real gpufleet server over
 * TLS with its own CA and a viewer token. Needs Debian's `prometheus` package (.ci/run
 * installs it); a machine without it fails with the install line.
 */

const EXAMPLE = new URL('../../../../docs/prometheus/prometheus.yml', import.meta.url);

/** Replaces `from` by `to` in `text`, failing when the example no longer contains `from`. */
function swap(text: string, from: string, to: string): string {
  expect(text, `the example no longer contains ${from}`).toContain(from);
  return text.split(from).join(to);
}

let dir: string;
let t: TestServer;
let ca: string;
let viewerToken: string;
let prom: ChildProcess | null = null;
let promLog = '';

/** A JSON request to the TLS test server, trusting only its CA. */
function apiTls(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.url}${path}`, { method, ca, headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('docs/prometheus/prometheus.yml', () => {
  beforeAll(async () => {
    requireTool('promtool', 'prometheus');
    requireTool('prometheus', 'prometheus');
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-prom-'));
    const tls = await ensureServerTls({ dataDir: dir, hostnames: ['localhost'], ips: ['127.0.0.1'] });
    ca = tls.caPem;
    t = await startTestServer({ tlsCert: join(dir, 'tls', 'server.pem'), tlsKey: join(dir, 'tls', 'server-key.pem') });
    expect(t.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const created = await apiTls('POST', '/api/v1/api-tokens', { name: 'prometheus', role: 'viewer' });
    expect(created.status).toBe(201);
    viewerToken = created.body.token;
  });
  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      prom.kill('SIGTERM');
      await new Promise((r) => prom!.once('exit', r));
    }
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The example with this test's server, files and a 1 s interval. */
  function localConfig(): string {
    writeFileSync(join(dir, 'gpufleet-token'), viewerToken, { mode: 0o600 });
    writeFileSync(join(dir, 'gpufleet-ca.pem'), ca);
    let text = readFileSync(EXAMPLE, 'utf8');
    text = swap(text, '/etc/prometheus/gpufleet-token', join(dir, 'gpufleet-token'));
    text = swap(text, '/etc/prometheus/gpufleet-ca.pem', join(dir, 'gpufleet-ca.pem'));
    text = swap(text, 'server_name: gpufleet.example', 'server_name: localhost');
    text = swap(text, '"gpufleet.example:7420"', `"${new URL(t.url).host}"`);
    text = swap(text, 'scrape_interval: 30s', 'scrape_interval: 1s');
    text = swap(text, 'scrape_timeout: 25s', 'scrape_timeout: 1s');
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, text);
    return file;
  }

  it('passes promtool check config', () => {
    const out = execFileSync('promtool', ['check', 'config', localConfig()], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS/);
  });

  it('lets a real Prometheus scrape the server over TLS with a viewer token', async () => {
    const file = localConfig();
    const port = await freePort();
    prom = spawn(
      'prometheus',
      [`--config.file=${file}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prom.stdout!.on('data', (c: Buffer) => (promLog += c.toString()));
    prom.stderr!.on('data', (c: Buffer) => (promLog += c.toString()));
    const api = `http://127.0.0.1:${port}/api/v1`;
    const deadline = Date.now() + 40_000;
    let target: { health: string; lastError: string; labels: Record<string, string> } | undefined;
    let series: Array<{ metric: Record<string, string>; value: [number, string] }> = [];
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      expect(prom.exitCode, `prometheus exited: ${promLog}`).toBeNull();
      try {
        target = (await (await fetch(`${api}/targets`)).json()).data.activeTargets[0];
        if (target?.health !== 'up') continue;
        series = (await (await fetch(`${api}/query?query=${encodeURIComponent('gpufleet_nodes')}`)).json()).data.result;
        if (series.length > 0) break;
      } catch {
        // Not listening yet.
      }
    }
    expect(target, promLog).toBeDefined();
    expect(target!.lastError).toBe('');
    expect(target!.health).toBe('up');
    expect(target!.labels).toMatchObject({ job: 'gpufleet', fleet: 'production' });
    expect(series.map((s) => s.metric.status).sort()).toContain('READY');
    expect(series[0]!.metric).toMatchObject({ job: 'gpufleet', fleet: 'production', __name__: 'gpufleet_nodes' });
  }, 60_000);
});
