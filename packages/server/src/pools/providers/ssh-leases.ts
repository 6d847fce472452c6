import { z } from 'zod';
import { ProviderError, type ProviderStateStore } from './cloud-provider.js';

/**
 * Which host of an ssh provider is held by which pool operation, kept in the provider's state so
 * a restarted server knows its hosts and a repeated provision (same operation id) gets the host
 * it got the first time. A lease is written before anything is done on the host and removed only
 * once the host is clean again.
 */

export const SshLease = z.strictObject({
  host: z.string(),
  operationId: z.string(),
  pool: z.string(),
  instanceType: z.string(),
  zone: z.string().nullable(),
  address: z.string(),
  pricePerHour: z.number().nullable(),
  /** bootstrapping: taken, agent not yet started; running: agent started; terminating: being given back. */
  stage: z.enum(['bootstrapping', 'running', 'terminating']),
  /** ms since the epoch. */
  leasedAt: z.number(),
  /** How to reach and clean the host, as it was when taken (the hosts file may change meanwhile). */
  target: z.strictObject({
    port: z.number().int(),
    user: z.string(),
    agentCommand: z.array(z.string()),
    dataDir: z.string(),
    service: z.enum(['systemd', 'background']),
    hostKey: z.string().nullable(),
  }),
});
export type SshLease = z.infer<typeof SshLease>;

const PREFIX = 'lease/';

export class SshLeases {
  constructor(private readonly state: ProviderStateStore) {}

  async all(): Promise<SshLease[]> {
    const out: SshLease[] = [];
    for (const { key, value } of await this.state.list()) {
      if (!key.startsWith(PREFIX)) continue;
      out.push(this.parsed(key, value));
    }
    return out;
  }

  async get(host: string): Promise<SshLease | null> {
    const value = await this.state.get(PREFIX + host);
    return value === undefined ? null : this.parsed(PREFIX + host, value);
  }

  put(lease: SshLease): Promise<void> {
    return this.state.put(PREFIX + lease.host, lease);
  }

  release(host: string): Promise<void> {
    return this.state.delete(PREFIX + host);
  }

  private parsed(key: string, value: unknown): SshLease {
    const lease = SshLease.safeParse(value);
    // A damaged lease must not read as a free host: someone may be using it.
    if (!lease.success) throw new ProviderError('invalid', `the provider's state record ${key} is damaged: ${lease.error.issues[0]?.message ?? 'not a lease'}`);
    return lease.data;
  }
}
