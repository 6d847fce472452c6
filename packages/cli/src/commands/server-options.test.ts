import { isAbsolute, resolve } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { SERVER_CONFIG_DEFAULTS } from '@gpufleet/server';
import { addServerOptions, serverFlags } from './server.js';

/** Every server setting is also a flag of `gpufleet server` (DESIGN.md §8.3: one set of keys). */
describe('gpufleet server flags', () => {
  it('cover every key of the server config', () => {
    const flags = addServerOptions(new Command('server')).options.map((o) => o.long);
    const kebab = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    expect(flags).toEqual(expect.arrayContaining(Object.keys(SERVER_CONFIG_DEFAULTS).map(kebab)));
  });

  it('parse the event retention settings into camelCase keys the config takes', () => {
    const cmd = addServerOptions(new Command('server')).exitOverride();
    cmd.parse(['--events-retention', '90d', '--events-per-node', '5000'], { from: 'user' });
    expect(cmd.opts()).toMatchObject({ eventsRetention: '90d', eventsPerNode: '5000' });
  });

  it('take --pools as a file resolved to an absolute path, null when not given', async () => {
    const { resolveServerConfig } = await import('@gpufleet/server');
    const cmd = addServerOptions(new Command('server')).exitOverride();
    cmd.parse(['--pools', 'examples/pools/sim.yaml', '--pool-reconcile', '5s'], { from: 'user' });
    expect(cmd.opts()).toMatchObject({ pools: 'examples/pools/sim.yaml', poolReconcile: '5s' });
    const config = resolveServerConfig({ flags: cmd.opts() });
    expect(config.pools).toBe(resolve('examples/pools/sim.yaml'));
    expect(isAbsolute(config.pools!)).toBe(true);
    expect(config.poolReconcileMs).toBe(5000);
    expect(resolveServerConfig({}).pools).toBeNull();
    expect(resolveServerConfig({ env: { GPUFLEET_POOLS: '/etc/gpufleet/pools.yaml' } }).pools).toBe('/etc/gpufleet/pools.yaml');
    expect(() => resolveServerConfig({ flags: { pools: 42 } })).toThrow(/config flag 'pools': expected text/);
  });

  it('refuse --pools without its file', () => {
    const cmd = addServerOptions(new Command('server'))
      .exitOverride()
      .configureOutput({ writeErr: () => {} });
    expect(() => cmd.parse(['--pools'], { from: 'user' })).toThrow(/argument missing/);
  });

  it('take --store as --database, with the replica flags, and refuse both naming different stores', async () => {
    const { resolveServerConfig } = await import('@gpufleet/server');
    const cmd = addServerOptions(new Command('server')).exitOverride();
    cmd.parse(['--store', 'postgres://db/fleet', '--bus', 'nats://127.0.0.1:4222', '--replica-name', 'cp-2', '--bus-namespace', 'eu'], { from: 'user' });
    const config = resolveServerConfig({ flags: serverFlags(cmd.opts()) });
    expect(config).toMatchObject({ database: 'postgres://db/fleet', bus: 'nats://127.0.0.1:4222', replicaName: 'cp-2', busNamespace: 'eu' });
    expect(serverFlags({ store: 'postgres://a/x', database: 'postgres://a/x' }).database).toBe('postgres://a/x');
    expect(() => serverFlags({ store: 'postgres://a/x', database: 'postgres://b/y' })).toThrow(/--store and --database/);
    expect(() => resolveServerConfig({ flags: serverFlags({ bus: 'nats://127.0.0.1:4222' }) })).toThrow(/shared store/);
  });
});
