import { FleetError } from '@gpufleet/protocol';
import type { NodeRegistry } from '../services/node-registry.js';

/**
 * Node ids of references (id, id prefix or hostname) resolved as the registry does; every one that
 * does not resolve is named in one refusal, so a typo among fifty is found at once. Removed nodes
 * are refused too: they can join no group.
 */
export function resolveNodeRefs(registry: Pick<NodeRegistry, 'resolve'>, refs: readonly string[], field: string): string[] {
  const ids: string[] = [];
  const unknown: string[] = [];
  const other: string[] = [];
  for (const ref of refs) {
    try {
      const node = registry.resolve(ref);
      if (node.adminState === 'decommissioned') other.push(`'${ref}' is a removed node`);
      else ids.push(node.id);
    } catch (err) {
      if (err instanceof FleetError && err.code === 'not_found') unknown.push(ref);
      else other.push(err instanceof Error ? err.message : String(err));
    }
  }
  const problems = [...(unknown.length > 0 ? [`unknown nodes: ${unknown.join(', ')}`] : []), ...other];
  if (problems.length > 0) throw new FleetError('invalid_argument', `${field}: ${problems.join('; ')}`);
  return ids;
}
