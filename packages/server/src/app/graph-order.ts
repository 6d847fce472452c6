import { FleetError } from '@gpufleet/protocol';

/** A node of the dependency graph: its id and the ids it needs. */
export interface GraphNode {
  id: string;
  needs: readonly string[];
}

/**
 * Orders services so each comes after everything it needs (depth-first, registration order
 * kept where the graph leaves a choice, so boots are reproducible). Refuses with a
 * failed_precondition FleetError naming the service when a dependency is not registered or
 * when the dependencies form a cycle (the cycle is spelled out: `a -> b -> a`).
 */
export function graphOrder(nodes: readonly GraphNode[]): string[] {
  const byId = new Map<string, GraphNode>();
  for (const n of nodes) {
    if (byId.has(n.id)) throw new FleetError('failed_precondition', `service '${n.id}' is registered twice`, { details: { service: n.id } });
    byId.set(n.id, n);
  }
  const missing: string[] = [];
  for (const n of nodes) for (const d of n.needs) if (!byId.has(d)) missing.push(`'${n.id}' needs '${d}'`);
  if (missing.length > 0) {
    throw new FleetError(
      'failed_precondition',
      `cannot boot: missing service${missing.length > 1 ? 's' : ''}: ${missing.join('; ')}, which ${missing.length > 1 ? 'are' : 'is'} not registered`,
      { details: { missing } },
    );
  }
  const order: string[] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (id: string): void => {
    if (done.has(id)) return;
    if (onPath.has(id)) {
      const cycle = [...path.slice(path.indexOf(id)), id];
      throw new FleetError('failed_precondition', `cannot boot: dependency cycle ${cycle.join(' -> ')}`, { details: { cycle } });
    }
    onPath.add(id);
    path.push(id);
    for (const d of byId.get(id)!.needs) visit(d);
    path.pop();
    onPath.delete(id);
    done.add(id);
    order.push(id);
  };
  for (const n of nodes) visit(n.id);
  return order;
}
