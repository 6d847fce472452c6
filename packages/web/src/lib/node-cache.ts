import type { QueryClient } from '@tanstack/react-query';
import type { NodeView } from '@gpufleet/protocol';

/** A node view the server returned, under both keys a node page may read it by (id, or the ref in its URL). */
export function putNode(qc: QueryClient, v: NodeView): void {
  qc.setQueryData(['node', v.id], v);
  qc.setQueryData(['node', v.hostname], v);
}
