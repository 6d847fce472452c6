import { z } from 'zod';
import type { PresentedHostKey } from '../../ssh/host-key-format.js';
import { ProviderError, type ProviderStateStore } from './cloud-provider.js';

// The fingerprint helpers live with the SSH transport now; re-exported for the provider's callers.
export { hostKeyAlgorithm, hostKeyFingerprint, type PresentedHostKey, presentedHostKey } from '../../ssh/host-key-format.js';

/**
 * SSH host keys, pinned on first use (DESIGN.md §6): the first key a host presents is kept, and
 * from then on only that key is accepted. A host whose key changed (a reinstall, or a machine in
 * the middle) is refused until an operator says which key is right, by writing `host_key:` in
 * the hosts file. Never "accept whatever comes".
 */

export const PinnedHostKey = z.strictObject({
  algorithm: z.string().max(128),
  fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/),
  /** ms since the epoch. */
  pinnedAt: z.number(),
  /** Where the pin came from: the first connection, or the hosts file's `host_key`. */
  source: z.enum(['first-use', 'hosts-file']),
});
export type PinnedHostKey = z.infer<typeof PinnedHostKey>;

export type HostKeyVerdict = { ok: true; pinnedNow: boolean } | { ok: false; expected: string; presented: PresentedHostKey; reason: string };

const pinKey = (host: string) => `host/${host}/host-key`;

/** The pins of one provider, kept in its state store. */
export class HostKeyPins {
  constructor(
    private readonly state: ProviderStateStore,
    private readonly now: () => number,
  ) {}

  async get(host: string): Promise<PinnedHostKey | null> {
    const value = await this.state.get(pinKey(host));
    if (value === undefined) return null;
    const pin = PinnedHostKey.safeParse(value);
    // A damaged pin must not turn into "no pin" (which would accept any key): refuse until fixed.
    if (!pin.success)
      throw new ProviderError(
        'invalid',
        `the pinned host key of ${host} is damaged in the provider's state; write host_key: in the hosts file to set it again`,
      );
    return pin.data;
  }

  /**
   * Checks the key a host presents. `expected` is the hosts file's `host_key` (it wins over a
   * stored pin, so an operator can accept a reinstalled host); without it the first key seen is
   * pinned and every later one must match it.
   */
  async verify(host: string, expected: string | null, presented: PresentedHostKey): Promise<HostKeyVerdict> {
    const pinned = await this.get(host);
    if (expected !== null) {
      if (presented.fingerprint !== expected) {
        return { ok: false, expected, presented, reason: 'the hosts file says (host_key)' };
      }
      if (pinned?.fingerprint === expected && pinned.source === 'hosts-file') return { ok: true, pinnedNow: false };
      await this.state.put(pinKey(host), { ...presented, pinnedAt: this.now(), source: 'hosts-file' } satisfies PinnedHostKey);
      return { ok: true, pinnedNow: true };
    }
    if (pinned === null) {
      await this.state.put(pinKey(host), { ...presented, pinnedAt: this.now(), source: 'first-use' } satisfies PinnedHostKey);
      return { ok: true, pinnedNow: true };
    }
    if (pinned.fingerprint === presented.fingerprint) return { ok: true, pinnedNow: false };
    return { ok: false, expected: pinned.fingerprint, presented, reason: `was pinned on ${new Date(pinned.pinnedAt).toISOString()}` };
  }
}
