import type { ProviderContext, ProviderStateStore } from '../cloud-provider.js';

/** Provider state in a Map (values copied through JSON, as the store would). */
export class MemoryProviderState implements ProviderStateStore {
  readonly values = new Map<string, string>();
  async get(key: string): Promise<unknown | undefined> {
    const v = this.values.get(key);
    return v === undefined ? undefined : JSON.parse(v);
  }
  async put(key: string, value: unknown): Promise<void> {
    this.values.set(key, JSON.stringify(value));
  }
  async delete(key: string): Promise<void> {
    this.values.delete(key);
  }
  async list(): Promise<Array<{ key: string; value: unknown }>> {
    return [...this.values].map(([key, v]) => ({ key, value: JSON.parse(v) }));
  }
}

/** A ProviderContext for adapter tests: a fixed clock, its own env, state in memory, logs kept. */
export function memoryProviderContext(overrides: Partial<ProviderContext> = {}): ProviderContext & { state: MemoryProviderState; logs: string[] } {
  const logs: string[] = [];
  return {
    name: 'test',
    masterKey: null,
    env: {},
    baseDir: process.cwd(),
    clock: { now: () => 1_700_000_000_000 },
    log: { info: (_o, msg) => void logs.push(`info ${msg}`), warn: (_o, msg) => void logs.push(`warn ${msg}`) },
    ...overrides,
    state: new MemoryProviderState(),
    logs,
  };
}
