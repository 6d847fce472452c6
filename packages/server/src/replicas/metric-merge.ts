import type { NodeMetrics, NodeSparkline } from '@gpufleet/protocol';

type Series = NodeMetrics['series'][number];

const keyOf = (s: Series) => `${s.name}\u0000${s.gpu ?? ''}`;

/**
 * The holder's series with this replica's older points in front: a node that moved here and
 * then away (or whose holder died and was replaced) keeps the history this replica saw before
 * the holder's rings begin. The holder's points win wherever both have some.
 */
export function mergeSeries(local: readonly Series[], remote: readonly Series[]): Series[] {
  const older = new Map(local.map((s) => [keyOf(s), s]));
  const out: Series[] = [];
  for (const s of remote) {
    const mine = older.get(keyOf(s));
    older.delete(keyOf(s));
    const first = s.points[0]?.[0] ?? Number.POSITIVE_INFINITY;
    const before = mine ? mine.points.filter((p) => p[0] < first) : [];
    out.push(before.length > 0 ? { ...s, points: [...before, ...s.points] } : s);
  }
  // Series only this replica has (a GPU the holder has not seen since it took the node).
  for (const s of older.values()) if (s.points.length > 0) out.push(s);
  return out;
}

/** The holder's buckets, with this replica's where the holder has none. */
export function mergeSparkline(local: NodeSparkline, remote: NodeSparkline): NodeSparkline {
  const pick = (mine: Array<number | null>, theirs: Array<number | null>) => theirs.map((v, i) => v ?? mine[i] ?? null);
  return { id: remote.id, util: pick(local.util, remote.util), temp: pick(local.temp, remote.temp) };
}
