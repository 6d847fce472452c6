import { describe, expect, it } from 'vitest';
import type { LeaseRole } from '../replicas/leases.js';
import { LeaseTenure } from './lease-tenure.js';

describe('LeaseTenure', () => {
  it('reads again on a new tenure only: not on renewals (the fencing token moves, the tenure does not), and after a tenure lost and won back', async () => {
    let held = true;
    let since = 10;
    let revision = 10;
    const lease: LeaseRole = { name: 'scheduler', holds: () => held, fence: () => (held ? revision : null), tenure: () => (held ? since : null) };
    let reads = 0;
    const tenure = new LeaseTenure(lease, async () => void reads++);
    for (let i = 0; i < 5; i++) {
      revision++; // a renewal
      await tenure.current();
    }
    expect(reads).toBe(0);
    held = false;
    await tenure.current();
    expect(reads).toBe(0);
    // Another replica held it in between; this one wins it back under a new tenure.
    held = true;
    since = revision = 42;
    await tenure.current();
    await tenure.current();
    expect(reads).toBe(1);
  });

  it('a failed read is tried again on the next look, and looks during a read wait for it', async () => {
    let since = 1;
    const lease: LeaseRole = { name: 'scheduler', holds: () => true, fence: () => since, tenure: () => since };
    let attempts = 0;
    let release!: () => void;
    const tenure = new LeaseTenure(lease, async () => {
      attempts++;
      if (attempts === 1) throw new Error('store away');
      await new Promise<void>((r) => (release = r));
    });
    since = 2;
    await expect(tenure.current()).rejects.toThrow(/store away/);
    const first = tenure.current();
    const second = tenure.current();
    await new Promise((r) => setTimeout(r, 5));
    expect(attempts).toBe(2);
    release();
    await Promise.all([first, second]);
    await tenure.current();
    expect(attempts).toBe(2);
  });
});
