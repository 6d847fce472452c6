import { useQuery } from '@tanstack/react-query';
import { ApiError } from '../lib/api.js';
import { useApi } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { groupPagePath, shellWord, varText, type ResolvedVarsView, type VarOrigin } from '../lib/job-center.js';
import { Empty, ErrorBox, Loading } from '../components/states.js';
import { CliHint } from '../components/cli-hint.js';

/** Where a value comes from, in words: `global`, `group gpu_nodes`, `node`. */
export function originText(o: Pick<VarOrigin, 'scope' | 'source'>): string {
  if (o.scope === 'group') return `group ${o.source ?? '?'}`;
  if (o.scope === 'node') return 'node';
  return o.scope;
}

/** A node's variables merged as a play sees them (global < groups by priority < node), each with the layer that set it and what it overrode. */
export function NodeVarsPage({ nodeRef }: { nodeRef: string }) {
  const api = useApi();
  const q = useQuery({ queryKey: ['node-vars', nodeRef], queryFn: () => api.get<ResolvedVarsView>(`/api/v1/nodes/${encodeURIComponent(nodeRef)}/vars`) });
  if (q.isPending) return <Loading what="Loading variables" />;
  if (q.error instanceof ApiError && q.error.status === 404)
    return (
      <Empty>
        No node <span className="mono">{nodeRef}</span>. <Link to="/nodes">All nodes</Link>
      </Empty>
    );
  if (!q.data) return <ErrorBox error={q.error ?? 'not found'} retry={() => void q.refetch()} />;
  const v = q.data;
  const names = Object.keys(v.vars).sort();
  return (
    <>
      <h1 data-testid="node-vars-title">
        Variables of <Link to={nodePath(v.nodeId)}>{v.hostname}</Link>
      </h1>
      <p data-testid="node-vars-groups">
        Groups, lowest priority first:{' '}
        {v.groups.length === 0
          ? 'none'
          : [...v.groups]
              .sort((a, b) => a.priority - b.priority)
              .map((g, i) => (
                <span key={g.name}>
                  {i > 0 && ', '}
                  <Link to={groupPagePath(g.name)}>{g.name}</Link> <span className="muted">({g.priority})</span>
                </span>
              ))}
      </p>
      {names.length === 0 ? (
        <Empty>No variable reaches this node.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Value</th>
                <th>From</th>
                <th>Overrides</th>
              </tr>
            </thead>
            <tbody>
              {names.map((n) => {
                const { value, origin } = v.vars[n]!;
                return (
                  <tr key={n} data-testid="node-var" data-name={n} data-origin={originText(origin)}>
                    <td className="mono">{n}</td>
                    <td className="mono">{varText(value)}</td>
                    <td>
                      {origin.scope === 'group' && origin.source ? <Link to={groupPagePath(origin.source)}>{originText(origin)}</Link> : originText(origin)}
                    </td>
                    <td className="muted" data-testid="node-var-overrides">
                      {origin.overrides.map((o) => `${originText(o)}: ${varText(o.value)}`).join(' · ') || '—'}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <CliHint command={`gpufleet vars show ${shellWord(v.hostname)}`} />
    </>
  );
}
