import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTool } from '../testing/external-tool.js';

/** docs/prometheus/prometheus-replicas.yml: the scrape config for several replicas, checked by the real promtool. */
const EXAMPLE = new URL('../../../../docs/prometheus/prometheus-replicas.yml', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-prom-replicas-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function local(text: string): string {
  writeFileSync(join(dir, 'token'), 'gft_x_y', { mode: 0o600 });
  writeFileSync(join(dir, 'ca.pem'), '');
  const out = text.replace('/etc/prometheus/gpufleet-token', join(dir, 'token')).replace('/etc/prometheus/gpufleet-ca.pem', join(dir, 'ca.pem'));
  const file = join(dir, `prometheus-${Math.random().toString(16).slice(2)}.yml`);
  writeFileSync(file, out);
  return file;
}

describe('docs/prometheus/prometheus-replicas.yml', () => {
  const text = readFileSync(EXAMPLE, 'utf8');

  it('scrapes every replica in one job, and promtool accepts it', () => {
    requireTool('promtool', 'prometheus');
    expect(text).toMatch(/targets: \["cp-1\.example:7420", "cp-2\.example:7421", "cp-3\.example:7422"\]/);
    expect(execFileSync('promtool', ['check', 'config', local(text)], { encoding: 'utf8' })).toMatch(/SUCCESS/);
  });

  it('names only series /metrics really has', () => {
    // The names the comments promise, as replica-status.ts writes them.
    for (const name of ['gpufleet_replica_info', 'gpufleet_replica_peers', 'gpufleet_replica_lease_held', 'gpufleet_replica_frames_relayed_total'])
      expect(readFileSync(new URL('../replicas/replica-status.ts', import.meta.url), 'utf8')).toContain(`'${name}'`);
  });

  it('is refused by promtool when broken, so the check above means something', () => {
    requireTool('promtool', 'prometheus');
    const broken = local(text.replace('scrape_timeout: 25s', 'scrape_timeout: 45s'));
    expect(() => execFileSync('promtool', ['check', 'config', broken], { stdio: 'pipe' })).toThrow();
  });
});
