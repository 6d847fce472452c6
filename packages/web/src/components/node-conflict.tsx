import { ApiError } from '../lib/api.js';
import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { Badge } from './states.js';

interface Candidate {
  id: string;
  hostname: string;
  status: string;
}

/** The nodes a 409 from /api/v1/nodes/:ref names (a hostname several nodes share); null for any other error. */
export function conflictCandidates(error: unknown): Candidate[] | null {
  if (!(error instanceof ApiError) || error.status !== 409) return null;
  const list = (error.details as { candidates?: unknown } | undefined)?.candidates;
  if (!Array.isArray(list)) return null;
  const ok = list.filter((c): c is Candidate => typeof c?.id === 'string' && typeof c?.hostname === 'string' && typeof c?.status === 'string');
  return ok.length > 0 ? ok : null;
}

/**
 * A node page opened by a hostname that several nodes share (old data, a removed node's name
 * taken again): the server will not guess, so the page lists them, each linked by its id.
 */
export function NodeConflict({ hostname, candidates }: { hostname: string; candidates: Candidate[] }) {
  return (
    <section className="card" data-testid="node-conflict">
      <h1>{hostname}</h1>
      <p>{candidates.length} nodes have this hostname. Pick one by its id:</p>
      <ul className="timeline">
        {candidates.map((c) => (
          <li key={c.id}>
            <Link to={nodePath(c.id)} className="mono" data-testid="node-conflict-link" data-node-id={c.id}>
              {c.id}
            </Link>{' '}
            <Badge value={c.status} />
          </li>
        ))}
      </ul>
    </section>
  );
}
