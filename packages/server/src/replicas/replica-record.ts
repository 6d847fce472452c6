import type { ReplicaView } from '@gpufleet/protocol';

/** What each replica writes about itself in the replicas bucket, renewed every beat: the view less `self`. */
export type ReplicaRecord = Omit<ReplicaView, 'self'>;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** A record read back from the bus; anything malformed (another version, garbage) reads as null. */
export function parseReplicaRecord(raw: unknown): ReplicaRecord | null {
  const r = raw as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object') return null;
  if (typeof r.name !== 'string' || typeof r.instance !== 'string' || typeof r.url !== 'string' || typeof r.version !== 'string') return null;
  if (!isCount(r.startedAt) || !isCount(r.heartbeatAt) || !isCount(r.agents)) return null;
  if (!Array.isArray(r.leases) || r.leases.some((l) => typeof l !== 'string')) return null;
  return {
    name: r.name,
    instance: r.instance,
    url: r.url,
    startedAt: r.startedAt,
    heartbeatAt: r.heartbeatAt,
    agents: r.agents,
    leases: r.leases as string[],
    version: r.version,
  };
}
