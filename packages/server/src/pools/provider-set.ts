import { FleetError, type ProviderSpec } from '@gpufleet/protocol';
import type { PoolStore } from '../store/pool-records.js';
import type { Clock } from '../clock.js';
import type { CloudProvider, ProviderFactories } from './providers/cloud-provider.js';
import { providerStateStore } from './provider-state-store.js';

/** A built provider with the spec and folder it was built from. */
export interface BuiltProvider {
  name: string;
  spec: ProviderSpec;
  baseDir: string;
  provider: CloudProvider;
}

export interface ProviderSetOptions {
  factories: ProviderFactories;
  store: PoolStore;
  clock: Clock;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  masterKey: string | null;
  env: Record<string, string | undefined>;
}

/** Provider types this server can build, for messages. */
export function knownTypes(factories: ProviderFactories): string[] {
  return Object.entries(factories)
    .filter(([, f]) => f !== undefined)
    .map(([t]) => t)
    .sort();
}

/**
 * The providers the applied pools file names, built from the server's factories. Building one
 * may fail (an adapter refusing its spec: a missing API key, an unreadable hosts file); that
 * failure names the provider.
 */
export class ProviderSet {
  private readonly built = new Map<string, BuiltProvider>();

  constructor(private readonly o: ProviderSetOptions) {}

  get(name: string): BuiltProvider | undefined {
    return this.built.get(name);
  }

  /** Builds one provider; invalid_argument naming it when its type is missing or its adapter refuses the spec. */
  build(name: string, spec: ProviderSpec, baseDir: string): BuiltProvider {
    const factory = this.o.factories[spec.type];
    if (!factory) {
      throw new FleetError(
        'invalid_argument',
        `providers.${name}.type: this server has no '${spec.type}' provider (it has: ${knownTypes(this.o.factories).join(', ') || 'none'})`,
        { details: { field: `providers.${name}.type` } },
      );
    }
    try {
      const provider = factory(spec, {
        name,
        masterKey: this.o.masterKey,
        state: providerStateStore(this.o.store, name),
        env: this.o.env,
        baseDir,
        clock: this.o.clock,
        log: this.o.log,
      });
      return { name, spec, baseDir, provider };
    } catch (err) {
      throw new FleetError('invalid_argument', `providers.${name}: ${(err as Error).message}`, { details: { field: `providers.${name}` }, cause: err });
    }
  }

  /** Puts a built provider in place; the one it replaces is closed. */
  async put(built: BuiltProvider): Promise<void> {
    const old = this.built.get(built.name);
    this.built.set(built.name, built);
    if (old && old.provider !== built.provider) await this.close(old);
  }

  /** Removes and closes the providers not named in `keep`. */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    for (const [name, b] of [...this.built]) {
      if (keep.has(name)) continue;
      this.built.delete(name);
      await this.close(b);
    }
  }

  async closeAll(): Promise<void> {
    await this.retain(new Set());
  }

  private async close(b: BuiltProvider): Promise<void> {
    try {
      await b.provider.close();
    } catch (err) {
      this.o.log.warn({ provider: b.name, err: (err as Error).message }, 'closing a pool provider failed');
    }
  }
}
