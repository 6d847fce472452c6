import { useQuery } from '@tanstack/react-query';
import { useApi } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { formatPct } from '../lib/format.js';
import { costText, poolPagePath, sizeText, type PoolView } from '../lib/pools.js';
import { Empty, QueryView } from '../components/states.js';
import '../components/pools.css';

/** How often the list is read again: pools grow, shrink and repair on their own. */
export const POOLS_REFRESH_MS = 5_000;

/** What to do when there is no pool yet: the two ways a pools file reaches the server. */
function NoPools() {
  return (
    <Empty>
      <p>No pools yet. Pools are declared in a pools file (providers, then pools with their min and max nodes) and applied with</p>
      <p className="pool-empty-steps">
        <code>gpufleet pools apply pools.yaml</code> or at start with <code>gpufleet server --pools FILE</code>.
      </p>
    </Empty>
  );
}

/** Every pool: provider, nodes ready of desired with the bounds, GPUs, allocated share, cost and operations in flight. */
export function PoolsPage() {
  const api = useApi();
  const q = useQuery({
    queryKey: ['pools'],
    queryFn: () => api.get<{ items: PoolView[] }>('/api/v1/pools'),
    refetchInterval: POOLS_REFRESH_MS,
  });
  return (
    <>
      <h1>Pools</h1>
      <QueryView q={q} what="Loading pools">
        {(d) =>
          d.items.length === 0 ? (
            <NoPools />
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Pool</th>
                    <th>Provider</th>
                    <th className="num">Ready/desired (min..max)</th>
                    <th className="num">GPUs</th>
                    <th className="num">Allocated</th>
                    <th className="num">$/h</th>
                    <th className="num">In flight</th>
                  </tr>
                </thead>
                <tbody>
                  {[...d.items]
                    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
                    .map((p) => (
                      <tr key={p.name} data-testid="pools-row" data-name={p.name} data-ready={p.ready} data-desired={p.desired} data-in-flight={p.inFlight}>
                        <td>
                          <Link to={poolPagePath(p.name)} className="mono">
                            {p.name}
                          </Link>
                        </td>
                        <td>
                          {p.provider}{' '}
                          <span className="muted">
                            ({p.providerType}, {p.instanceType})
                          </span>
                        </td>
                        <td className="num" title={`${p.ready} ready of ${p.desired} desired; ${p.current} instances in all`}>
                          {sizeText(p)}
                        </td>
                        <td className="num">{p.gpus}</td>
                        <td className="num">{formatPct(p.allocatedPct)}</td>
                        <td className="num">{costText(p.costPerHour)}</td>
                        <td className="num">{p.inFlight}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
    </>
  );
}
