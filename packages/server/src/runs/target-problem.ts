import { matchesSelector } from '@gpufleet/protocol';
import type { NodeRegistry } from '../services/node-registry.js';
import type { ActiveRun } from './active-run.js';

/**
 * Why a target must not get its command now (checked right before the first send): the node
 * was removed or is pending, or it no longer matches the command's signed selector in the
 * server's view of its labels (they changed since the submit). The host checks the selector
 * against its own labels too; this keeps the command, and the env values in it, from ever
 * leaving the server for a host outside the selector.
 */
export function targetProblem(registry: Pick<NodeRegistry, 'resolve' | 'status' | 'labelsOf'>, run: ActiveRun, nodeId: string): string | null {
  let node;
  try {
    node = registry.resolve(nodeId);
  } catch {
    return 'the node is no longer in the fleet';
  }
  if (node.id !== nodeId) return 'the node is no longer in the fleet';
  const status = registry.status(node);
  if (status === 'DECOMMISSIONED' || status === 'PENDING') return `the node is ${status}`;
  if (!matchesSelector(run.selector, registry.labelsOf(nodeId)))
    return `the node no longer matches the signed target '${run.command.payload.target}' (its labels changed after the submit)`;
  return null;
}
