import { FleetError, PoolsConfig } from '@gpufleet/protocol';
import type { PoolConfigRecord, ProviderConfigRecord } from '../store/pool-records.js';
import type { ProviderFactories } from './providers/cloud-provider.js';
import { knownTypes } from './provider-set.js';

export type Change = 'created' | 'updated' | 'unchanged' | 'removed';

/**
 * Checks a pools file against this server before anything is stored: every pool names a provider
 * of the file, and every provider's type is one this server can build. The first problem is an
 * invalid_argument naming the field; all of them are in details.problems.
 */
export function checkPoolsConfig(input: unknown, factories: ProviderFactories): PoolsConfig {
  // Callers hand a parsed file (pool-file.ts); anything else is checked field by field all the same.
  const parsed = PoolsConfig.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(config)', message: i.message }));
    const first = problems[0]!;
    throw new FleetError('invalid_argument', `${first.field}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, {
      details: { field: first.field, problems },
    });
  }
  const config = parsed.data;
  const problems: Array<{ field: string; message: string }> = [];
  for (const [name, spec] of Object.entries(config.providers)) {
    if (!factories[spec.type]) {
      problems.push({
        field: `providers.${name}.type`,
        message: `this server has no '${spec.type}' provider (it has: ${knownTypes(factories).join(', ') || 'none'})`,
      });
    }
  }
  for (const [name, spec] of Object.entries(config.pools)) {
    if (spec.name !== name) problems.push({ field: `pools.${name}.name`, message: `'${spec.name}' differs from the pool's key '${name}'` });
    if (!config.providers[spec.provider]) {
      const defined = Object.keys(config.providers);
      problems.push({
        field: `pools.${name}.provider`,
        message: `no provider '${spec.provider}' in this pools file (${defined.length > 0 ? `defined: ${defined.join(', ')}` : 'it defines none'})`,
      });
    }
  }
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new FleetError('invalid_argument', `${first.field}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, {
      details: { field: first.field, problems },
    });
  }
  return config;
}

/** How each name changed between what is applied and what comes: by the spec (and, for providers, the folder paths resolve in). */
export function changesOf<T>(before: ReadonlyMap<string, T>, after: ReadonlyMap<string, T>, key: (v: T) => string): Array<{ name: string; change: Change }> {
  const out: Array<{ name: string; change: Change }> = [];
  for (const [name, v] of after) {
    const old = before.get(name);
    out.push({ name, change: old === undefined ? 'created' : key(old) === key(v) ? 'unchanged' : 'updated' });
  }
  for (const name of before.keys()) if (!after.has(name)) out.push({ name, change: 'removed' });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export const providerKey = (r: Pick<ProviderConfigRecord, 'spec' | 'baseDir'>) => JSON.stringify([r.spec, r.baseDir]);
export const poolKey = (r: Pick<PoolConfigRecord, 'spec'>) => JSON.stringify(r.spec);
