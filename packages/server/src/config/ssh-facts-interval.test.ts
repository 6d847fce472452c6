import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveServerConfig } from './server-config.js';

/** --ssh-facts-interval (issue 12): default, YAML key, environment, flag, and garbage refused naming it. */
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-ssh-interval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ssh facts interval', () => {
  it('defaults to a minute; YAML < environment < flag', () => {
    expect(resolveServerConfig().sshFactsIntervalMs).toBe(60_000);
    const file = join(dir, 'server.yaml');
    writeFileSync(file, 'ssh-facts-interval: 5m\n');
    expect(resolveServerConfig({ file }).sshFactsIntervalMs).toBe(300_000);
    expect(resolveServerConfig({ file, env: { GPUFLEET_SSH_FACTS_INTERVAL: '30s' } }).sshFactsIntervalMs).toBe(30_000);
    expect(resolveServerConfig({ file, env: { GPUFLEET_SSH_FACTS_INTERVAL: '30s' }, flags: { sshFactsInterval: '10s' } }).sshFactsIntervalMs).toBe(10_000);
  });

  it('refuses garbage and values out of range, naming the setting', () => {
    expect(() => resolveServerConfig({ flags: { sshFactsInterval: 'often' } })).toThrow(/ssh-facts-interval/);
    expect(() => resolveServerConfig({ env: { GPUFLEET_SSH_FACTS_INTERVAL: '10ms' } })).toThrow(/ssh-facts-interval.*between/);
    expect(() => resolveServerConfig({ flags: { sshFactsInterval: '2d' } })).toThrow(/ssh-facts-interval/);
  });
});
