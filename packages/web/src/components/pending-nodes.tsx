import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { NodeView } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import type { NodeList } from '../lib/types.js';
import { useConfirm } from './dialog.js';
import { Time } from './states.js';
import './pending-nodes.css';
import { nodePath } from '../lib/node-path.js';

/**
 * Approving a PENDING node (admin): asks first, showing the node's key so the admin can compare
 * it with the host, then POST /api/v1/nodes/:id/approve. `approve` resolves when the call is sent.
 */
export function useApproveNode() {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const mutation = useMutation({
    mutationFn: (n: NodeView) => api.post<NodeView>(`/api/v1/nodes/${encodeURIComponent(n.id)}/approve`),
    onSuccess: (v) => {
      qc.setQueryData(['node', v.id], v);
      qc.setQueryData(['node', v.hostname], v);
      void qc.invalidateQueries({ queryKey: ['summary'] });
      void qc.invalidateQueries({ queryKey: ['nodes'] });
    },
  });
  const approve = async (n: NodeView) => {
    const ok = await confirm({
      title: `Approve ${n.hostname}?`,
      body: (
        <>
          <p>It enrolled with a join token that needs approval. Once approved it takes work like any other node.</p>
          <p className="muted">
            Node key <span className="mono">{n.id}</span>
          </p>
        </>
      ),
      confirmLabel: 'Approve',
    });
    if (ok !== null) mutation.mutate(n);
  };
  return { approve, mutation };
}

/** Admins: the nodes waiting for approval, each with an Approve button. Renders nothing when none wait. */
export function PendingNodes() {
  const api = useApi();
  const isAdmin = useCan('admin');
  const q = useQuery({
    queryKey: ['nodes', 'pending'],
    queryFn: () => api.get<NodeList>('/api/v1/nodes?status=PENDING&limit=50'),
    enabled: isAdmin,
    refetchInterval: 15_000,
  });
  const { approve, mutation } = useApproveNode();
  if (!isAdmin || !q.data || q.data.total === 0) return null;
  const { items, total } = q.data;
  return (
    <section className="card section pending-nodes" aria-labelledby="h-pending" data-testid="pending-nodes">
      <h2 id="h-pending">
        {total} node{total === 1 ? '' : 's'} wait{total === 1 ? 's' : ''} for approval
      </h2>
      <ul className="pending-list">
        {items.map((n) => (
          <li key={n.id} data-testid="pending-node" data-hostname={n.hostname}>
            <Link to={nodePath(n.id)}>{n.hostname}</Link>
            <span className="muted">
              {n.gpus.length} GPU{n.gpus.length === 1 ? '' : 's'} · enrolled <Time at={n.enrolledAt} />
            </span>
            <button
              type="button"
              className="btn btn-small btn-primary"
              disabled={mutation.isPending}
              onClick={() => void approve(n)}
              data-testid={`pending-approve-${n.hostname}`}
            >
              Approve
            </button>
          </li>
        ))}
      </ul>
      {total > items.length && <p className="muted">and {total - items.length} more: approve them from their node pages.</p>}
      {mutation.error && (
        <p className="form-error" role="alert">
          {(mutation.error as Error).message}
        </p>
      )}
    </section>
  );
}

/** The overview's line about nodes waiting for approval; nothing when none wait. */
export function PendingNotice({ count }: { count: number }) {
  if (count <= 0) return null;
  return (
    <p className="pending-notice" role="status" data-testid="overview-pending" data-count={count}>
      <strong>
        {count} node{count === 1 ? '' : 's'} wait{count === 1 ? 's' : ''} for approval.
      </strong>
      <Link to="/nodes?status=PENDING" data-testid="overview-pending-link">
        Review and approve
      </Link>
    </p>
  );
}
