import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { resolveServerConfig } from './server-config.js';

describe('server config: health keys', () => {
  it('defaults to the shipped policy, a 10m drain timeout and a 10m offline grace', () => {
    const c = resolveServerConfig();
    expect(c.healthPolicy).toBeNull();
    expect(c.drainTimeoutMs).toBe(600_000);
    expect(c.offlineGraceMs).toBe(600_000);
  });

  it('takes them from flags and the environment', () => {
    const c = resolveServerConfig({ flags: { healthPolicy: 'policy.yaml', drainTimeout: '2h' }, env: { GPUFLEET_OFFLINE_GRACE: '0s' } });
    expect(c.healthPolicy).toBe(resolve('policy.yaml'));
    expect(c.drainTimeoutMs).toBe(7_200_000);
    expect(c.offlineGraceMs).toBe(0);
  });

  it.each([
    [{ flags: { drainTimeout: 'forever' } }, /'drain-timeout'.*duration/],
    [{ flags: { drainTimeout: '10ms' } }, /'drain-timeout'.*between/],
    [{ flags: { offlineGrace: '90d' } }, /'offline-grace'.*between/],
    [{ flags: { healthPolicy: 5 } }, /'health-policy'.*expected text/],
  ])('refuses %j naming the key', (sources, message) => {
    expect(() => resolveServerConfig(sources as never)).toThrow(message);
  });
});
