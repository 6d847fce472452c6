import type { ResolvedVarsView, VarOrigin, VarScope } from '@gpufleet/protocol';

/** One layer of variables: where they come from and what they say. */
export interface VarLayer {
  scope: VarScope | 'extra';
  /** The group name or node id; null for global and extra. */
  source: string | null;
  vars: Readonly<Record<string, unknown>>;
}

/** A group as the merge orders it. */
export interface RankedGroup {
  name: string;
  priority: number;
}

/**
 * Groups in the order their variables apply: priority ascending, ties by name, so the last one
 * (highest priority, then the name that sorts last) wins, as Ansible merges same-depth groups.
 */
export function groupsInMergeOrder<T extends RankedGroup>(groups: readonly T[]): T[] {
  return [...groups].sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Merges layers given lowest first: a later layer's value replaces an earlier one whole (objects
 * and lists are not deep-merged, Ansible's default hash_behaviour=replace). Each value keeps where
 * it came from and the values it overrode, lowest first.
 */
export function mergeVarLayers(layers: readonly VarLayer[]): ResolvedVarsView['vars'] {
  // A Map, not an object: a variable named __proto__ must stay a variable.
  const merged = new Map<string, { value: unknown; origin: VarOrigin }>();
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer.vars)) {
      const before = merged.get(name);
      const overrides: VarOrigin['overrides'] = before
        ? [...before.origin.overrides, { scope: before.origin.scope as VarScope, source: before.origin.source, value: before.value }]
        : [];
      merged.set(name, { value, origin: { scope: layer.scope, source: layer.source, overrides } });
    }
  }
  // Sorted by name: stable output for tables and diffs.
  return Object.fromEntries([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
