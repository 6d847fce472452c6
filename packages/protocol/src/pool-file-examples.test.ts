import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parsePoolsFile } from './pool-file.js';

const dir = fileURLToPath(new URL('../../../examples/pools/', import.meta.url));

describe('the example pools files the README points at', () => {
  // hosts.yaml is the ssh provider's hosts file that cloud.yaml names (its own test reads it).
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'hosts.yaml');

  it('exist', () => {
    expect(files).toEqual(expect.arrayContaining(['sim.yaml', 'cloud.yaml']));
  });

  it('sim.yaml is the demo pool: 4..12 sim hosts of 8 x H100, replaced after 30 s unhealthy', () => {
    const config = parsePoolsFile(readFileSync(`${dir}sim.yaml`, 'utf8'), { file: 'sim.yaml' });
    expect(config.providers.sim).toMatchObject({ type: 'sim', instanceTypes: { 'sim.h100x8': { gpuModel: 'H100', gpus: 8 } } });
    expect(config.pools.demo).toMatchObject({ provider: 'sim', instanceType: 'sim.h100x8', minNodes: 4, maxNodes: 12, health: { replaceAfterMs: 30_000 } });
  });

  it('cloud.yaml has an aws, a lambda and an ssh provider, each with a pool', () => {
    const config = parsePoolsFile(readFileSync(`${dir}cloud.yaml`, 'utf8'), { file: 'cloud.yaml' });
    expect(
      Object.values(config.providers)
        .map((p) => p.type)
        .sort(),
    ).toEqual(['aws', 'lambda', 'ssh']);
    expect(new Set(Object.values(config.pools).map((p) => config.providers[p.provider]!.type))).toEqual(new Set(['aws', 'lambda', 'ssh']));
  });

  it("the README's pools file parses: four providers, the training pool with its health settings", () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    const section = readme.slice(readme.indexOf('## Pools and providers'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    const config = parsePoolsFile(block!, { file: 'README.md' });
    expect(Object.keys(config.providers).sort()).toEqual(['aws', 'lab', 'lambda', 'sim']);
    expect(config.pools.training).toMatchObject({
      provider: 'aws',
      minNodes: 2,
      maxNodes: 100,
      health: { replaceAfterMs: 120_000, maxParallelReplacements: 2 },
    });
  });

  for (const file of files) {
    it(`${file} parses, each pool on a provider of the file`, () => {
      const config = parsePoolsFile(readFileSync(`${dir}${file}`, 'utf8'), { file });
      expect(Object.keys(config.pools).length).toBeGreaterThan(0);
      for (const pool of Object.values(config.pools)) expect(config.providers[pool.provider]).toBeDefined();
    });
  }
});
