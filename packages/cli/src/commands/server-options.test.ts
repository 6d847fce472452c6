import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { SERVER_CONFIG_DEFAULTS } from '@gpufleet/server';
import { addServerOptions } from './server.js';

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
});
