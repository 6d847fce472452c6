/** A member node whose verdict is unhealthy, and since when (as this server saw it). */
export interface UnhealthyMember {
  nodeId: string;
  unhealthySince: number;
}

/**
 * The unhealthy members to start replacing now: unhealthy for at least `replaceAfterMs`, not
 * already being replaced, the longest unhealthy first, and no more than leaves at most
 * `maxParallel` replacements in flight.
 */
export function chooseReplacements(
  unhealthy: readonly UnhealthyMember[],
  o: { now: number; replaceAfterMs: number; inFlight: number; maxParallel: number; beingReplaced: ReadonlySet<string> },
): UnhealthyMember[] {
  const room = o.maxParallel - o.inFlight;
  if (room <= 0) return [];
  return unhealthy
    .filter((u) => !o.beingReplaced.has(u.nodeId) && o.now - u.unhealthySince >= o.replaceAfterMs)
    .sort((a, b) => a.unhealthySince - b.unhealthySince)
    .slice(0, room);
}
