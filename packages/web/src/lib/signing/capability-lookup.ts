import type { CapabilityView } from '@gpufleet/protocol';
import type { ApiClient } from '../api.js';

/** A capability as GET /api/v1/capabilities lists it (the server only lists ones that verified when added). */
export type CapabilityListing = CapabilityView;

/** How the key may sign, as the control plane knows it. */
export type KeyAuthority =
  | { kind: 'root' }
  | { kind: 'capability'; listing: CapabilityListing; others: number }
  | { kind: 'none'; inactive: CapabilityListing[] };

/**
 * Asks the control plane how `did` may sign: as a fleet root (GET /api/v1/roots: no capability
 * needed), else through a registered capability delegated to it (GET /api/v1/capabilities?aud=):
 * the active one that lasts longest. Pending, expired and revoked ones are returned under `none`
 * so the page can say why they do not count.
 */
export async function lookUpAuthority(api: ApiClient, did: string): Promise<KeyAuthority> {
  const [roots, caps] = await Promise.all([
    api.get<{ roots: string[] }>('/api/v1/roots'),
    api.get<{ items: CapabilityListing[] }>(`/api/v1/capabilities?aud=${encodeURIComponent(did)}`),
  ]);
  if (roots.roots.includes(did)) return { kind: 'root' };
  const mine = caps.items.filter((c) => c.aud === did);
  const active = mine.filter((c) => c.state === 'active').sort((a, b) => Date.parse(b.exp) - Date.parse(a.exp));
  if (active.length > 0) return { kind: 'capability', listing: active[0]!, others: active.length - 1 };
  return { kind: 'none', inactive: mine };
}
