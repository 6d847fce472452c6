import { hostname } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveServerConfig } from './server-config.js';

/** --bus, --bus-namespace, --replica-name (issue 13): defaults, sources, and garbage refused naming the setting. */
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-replica-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pg = 'postgres://fleet@127.0.0.1/fleet';

describe('replica settings', () => {
  it('default to one replica on the in-process bus, named after the host', () => {
    const config = resolveServerConfig();
    expect(config.bus).toBeNull();
    expect(config.busNamespace).toBe('gpufleet');
    expect(config.replicaName).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(
      config.replicaName.startsWith(
        hostname()
          .slice(0, 3)
          .replace(/[^A-Za-z0-9_-]/g, '-'),
      ),
    ).toBe(true);
  });

  it('take a NATS URL or a comma-separated cluster, from YAML, environment or flags', () => {
    const file = join(dir, 'server.yaml');
    writeFileSync(file, `database: ${pg}\nbus: nats://10.0.0.1:4222\nreplica-name: cp-1\n`);
    expect(resolveServerConfig({ file })).toMatchObject({ bus: 'nats://10.0.0.1:4222', replicaName: 'cp-1' });
    const env = { GPUFLEET_BUS: 'nats://a:4222,tls://b:4222', GPUFLEET_BUS_NAMESPACE: 'fleet_eu' };
    expect(resolveServerConfig({ file, env })).toMatchObject({ bus: 'nats://a:4222,tls://b:4222', busNamespace: 'fleet_eu' });
    expect(resolveServerConfig({ file, env, flags: { replicaName: 'cp-9' } }).replicaName).toBe('cp-9');
  });

  it('refuse a bus without a shared store: each replica on its own SQLite file would split the fleet', () => {
    expect(() => resolveServerConfig({ flags: { bus: 'nats://127.0.0.1:4222' } })).toThrow(/'bus'.*shared store.*--store postgres/);
  });

  it('refuse garbage, naming the setting', () => {
    for (const bus of ['http://127.0.0.1:4222', 'nats://', 'nats://a b:4222', 'nats://a:4222,', '127.0.0.1:4222', 'nats://a:99999999'])
      expect(() => resolveServerConfig({ flags: { database: pg, bus } }), bus).toThrow(/'bus'.*not a NATS URL/);
    for (const replicaName of ['cp 1', 'cp.1', 'cp/1', 'x'.repeat(65), '*', '>'])
      expect(() => resolveServerConfig({ flags: { replicaName } }), replicaName).toThrow(/replica-name/);
    for (const busNamespace of ['a.b', 'a*', 'ünï']) expect(() => resolveServerConfig({ flags: { busNamespace } }), busNamespace).toThrow(/bus-namespace/);
    expect(() => resolveServerConfig({ flags: { bus: 42 } })).toThrow(/'bus'/);
  });
});
