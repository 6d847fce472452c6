import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServerConfig, isLoopbackHost } from './server-config.js';

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-config-'));
  const file = join(dir, 'server.yaml');
  writeFileSync(file, text);
  return file;
}

describe('server config', () => {
  it('has complete defaults', () => {
    const c = resolveServerConfig();
    expect(c).toMatchObject({
      listenHost: '127.0.0.1',
      listenPort: 7420,
      database: null,
      heartbeatIntervalMs: 5000,
      offlineAfterBeats: 3,
      metricsIntervalMs: 10_000,
      metricsRetentionMs: 3_600_000,
      maxBodyBytes: 1_048_576,
      logLevel: 'info',
    });
    expect(c.dataDir).toMatch(/gpufleet-data$/);
  });

  it('layers file < environment < flags', () => {
    const file = yamlFile('listen: 0.0.0.0:9000\nheartbeat-interval: 2s\nmetricsInterval: 30s\n');
    const c = resolveServerConfig({
      file,
      env: { GPUFLEET_HEARTBEAT_INTERVAL: '3s', GPUFLEET_SERVER: 'ignored: belongs to the CLI' },
      flags: { metricsInterval: '15s' },
    });
    expect(c.listenHost).toBe('0.0.0.0');
    expect(c.listenPort).toBe(9000);
    expect(c.heartbeatIntervalMs).toBe(3000);
    expect(c.metricsIntervalMs).toBe(15_000);
  });

  it('accepts IPv6 listen addresses and postgres URLs', () => {
    const c = resolveServerConfig({ flags: { listen: '[::1]:7000', database: 'postgres://u@db/fleet' } });
    expect(c.listenHost).toBe('::1');
    expect(c.database).toBe('postgres://u@db/fleet');
  });

  it.each([
    [{ flags: { bogus: 1 } }, /--bogus.*unknown option/],
    [{ flags: { listen: 'nope' } }, /'listen'.*host:port/],
    [{ flags: { listen: '1.2.3.4:99999' } }, /'listen'/],
    [{ flags: { heartbeatInterval: 'soon' } }, /'heartbeat-interval'.*duration/],
    [{ flags: { heartbeatInterval: '10ms' } }, /'heartbeat-interval'.*between/],
    [{ flags: { offlineAfter: '1' } }, /'offline-after'/],
    [{ flags: { offlineAfter: 'x' } }, /'offline-after'/],
    [{ flags: { database: 'mysql://x' } }, /'database'.*postgres/],
    [{ flags: { publicUrl: 'ftp://x' } }, /'public-url'/],
    [{ flags: { tlsCert: '/x.pem' } }, /tls-key/],
    [{ flags: { logLevel: 'loud' } }, /'log-level'/],
    [{ flags: { maxBodyBytes: '12' } }, /'max-body-bytes'/],
    [{ env: { GPUFLEET_METRICS_RETENTION: 'forever' } }, /environment variable 'metrics-retention'/],
  ])('refuses %j naming the key', (sources, message) => {
    expect(() => resolveServerConfig(sources as never)).toThrow(message);
  });

  it('names an unknown key in the file, bad YAML, a non-mapping and a missing file', () => {
    expect(() => resolveServerConfig({ file: yamlFile('listen: 127.0.0.1:1\nlisten-adress: x\n') })).toThrow(/key 'listen-adress': unknown key/);
    expect(() => resolveServerConfig({ file: yamlFile('listen: [unclosed\n') })).toThrow(/not valid YAML/);
    expect(() => resolveServerConfig({ file: yamlFile('- a\n- b\n') })).toThrow(/YAML mapping/);
    expect(() => resolveServerConfig({ file: '/nonexistent/gpufleet.yaml' })).toThrow(/cannot read config file.*ENOENT/);
    expect(() => resolveServerConfig({ file: yamlFile('heartbeat-interval: {a: 1}\n') })).toThrow(/heartbeat-interval/);
  });

  it('keeps agent events 30 days and 100,000 per node by default, and takes both from every source', () => {
    expect(resolveServerConfig()).toMatchObject({ eventsRetentionMs: 30 * 86_400_000, eventsPerNode: 100_000 });
    expect(resolveServerConfig({ flags: { eventsRetention: '90d', eventsPerNode: '5000' } })).toMatchObject({
      eventsRetentionMs: 90 * 86_400_000,
      eventsPerNode: 5000,
    });
    expect(resolveServerConfig({ env: { GPUFLEET_EVENTS_RETENTION: '12h', GPUFLEET_EVENTS_PER_NODE: '250' } })).toMatchObject({
      eventsRetentionMs: 12 * 3_600_000,
      eventsPerNode: 250,
    });
    expect(resolveServerConfig({ file: yamlFile('events-retention: 7d\neventsPerNode: 1000\n') })).toMatchObject({
      eventsRetentionMs: 7 * 86_400_000,
      eventsPerNode: 1000,
    });
  });

  it.each([
    [{ flags: { eventsRetention: 'forever' } }, /'events-retention'.*duration/],
    [{ flags: { eventsRetention: '5m' } }, /'events-retention'.*between/],
    [{ flags: { eventsRetention: '99999d' } }, /'events-retention'.*between/],
    [{ flags: { eventsPerNode: '10' } }, /'events-per-node'.*100 to/],
    [{ flags: { eventsPerNode: '-5' } }, /'events-per-node'/],
    [{ env: { GPUFLEET_EVENTS_PER_NODE: 'lots' } }, /environment variable 'events-per-node'/],
    [{ file: yamlFile('events-retention: 30d\nevents-retension: 1d\n') }, /'events-retension': unknown key/],
  ])('refuses event retention setting %j naming the key', (sources, message) => {
    expect(() => resolveServerConfig(sources as never)).toThrow(message);
  });

  it('knows loopback hosts', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', 'fleet.example', '::'].some(isLoopbackHost)).toBe(false);
  });
});
