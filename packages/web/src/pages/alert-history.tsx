import { useEffect, useState } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { AlertRuleView, AlertTransition } from '@gpufleet/protocol';
import { useApi } from '../lib/auth.js';
import { ApiError, query } from '../lib/api.js';
import { Link } from '../lib/router.js';
import type { NodeList } from '../lib/types.js';
import { Badge, Empty, ErrorBox, Loading, QueryView, Time } from '../components/states.js';
import { nodePath } from '../lib/node-path.js';

/** Rows fetched per step; "Show more" asks for this many more (the API caps a call at 10,000). */
export const HISTORY_PAGE = 100;
const HISTORY_MAX = 10_000;

/** A GPU key (UUID or PCI bus id) short enough for a table cell; the whole key is on hover. */
function shortGpu(gpu: string): string {
  return gpu.length > 16 ? `${gpu.slice(0, 12)}…` : gpu;
}

/**
 * The alert state changes, newest first (GET /api/v1/alerts/history), filtered by rule and
 * hostname. The server keeps the last 10,000 in memory only and has no cursor, so paging asks
 * for a longer list.
 */
export function AlertHistory() {
  const api = useApi();
  const [rule, setRule] = useState('');
  const [host, setHost] = useState('');
  const [hostQuery, setHostQuery] = useState('');
  const [limit, setLimit] = useState(HISTORY_PAGE);

  useEffect(() => {
    const t = setTimeout(() => setHostQuery(host.trim()), 300);
    return () => clearTimeout(t);
  }, [host]);
  // A new filter starts from the first page again.
  useEffect(() => setLimit(HISTORY_PAGE), []);

  // The typed node is looked up first, so a typo is told here rather than as a refused call.
  const matches = useQuery({
    queryKey: ['nodes', 'search', hostQuery],
    queryFn: () => api.get<NodeList>(`/api/v1/nodes${query({ q: hostQuery, limit: 20 })}`),
    enabled: hostQuery !== '',
    staleTime: 30_000,
  });
  const node = hostQuery === '' ? null : matches.data?.items.find((n) => n.hostname === hostQuery || n.id === hostQuery);
  const nodeUnknown = hostQuery !== '' && matches.data !== undefined && node === undefined;
  const rules = useQuery({ queryKey: ['alerts', 'rules'], queryFn: () => api.get<{ items: AlertRuleView[] }>('/api/v1/alerts/rules'), staleTime: 60_000 });
  const history = useQuery({
    queryKey: ['alerts', 'history', rule, node?.id ?? '', limit],
    queryFn: () => api.get<{ items: AlertTransition[] }>(`/api/v1/alerts/history${query({ rule, node: node?.id, limit })}`),
    enabled: node !== undefined,
    refetchInterval: 15_000,
    placeholderData: keepPreviousData,
  });

  // A hostname that names no node is a filter to fix, not a failure of the page.
  const err = history.error;
  const filterError = nodeUnknown
    ? `No node is named '${hostQuery}'.${
        matches.data!.items.length > 0
          ? ` Did you mean ${matches
              .data!.items.slice(0, 5)
              .map((n) => n.hostname)
              .join(', ')}?`
          : ''
      }`
    : hostQuery && err instanceof ApiError && (err.code === 'not_found' || err.code === 'conflict')
      ? err.message
      : null;

  return (
    <section className="section" aria-labelledby="h-alert-history">
      <h2 id="h-alert-history">State changes</h2>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="hist-rule">Rule</label>
          <select id="hist-rule" value={rule} onChange={(e) => setRule(e.target.value)} data-testid="history-rule">
            <option value="">any</option>
            {(rules.data?.items ?? []).map((r) => (
              <option key={r.name} value={r.name}>
                {r.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="hist-host">
            Node <small>hostname or id</small>
          </label>
          <input
            id="hist-host"
            type="search"
            list="hist-host-options"
            value={host}
            onChange={(e) => setHost(e.target.value)}
            placeholder="any"
            autoComplete="off"
            data-testid="history-host"
          />
          <datalist id="hist-host-options">
            {(matches.data?.items ?? []).map((n) => (
              <option key={n.id} value={n.hostname} />
            ))}
          </datalist>
        </div>
      </div>
      {filterError ? (
        <p className="form-error" role="alert" data-testid="history-filter-error">
          {filterError}
        </p>
      ) : hostQuery !== '' && node === undefined ? (
        matches.error ? (
          <ErrorBox error={matches.error} retry={() => void matches.refetch()} />
        ) : (
          <Loading what="Looking up the node" />
        )
      ) : (
        <QueryView q={history} what="Loading alert history">
          {(d) =>
            d.items.length === 0 ? (
              <Empty>{rule || hostQuery ? 'No state changes match these filters.' : 'No alert has changed state since the server started.'}</Empty>
            ) : (
              <>
                <div className="table-wrap">
                  <table data-testid="history-table">
                    <thead>
                      <tr>
                        <th>When</th>
                        <th>Rule</th>
                        <th>Severity</th>
                        <th>Node</th>
                        <th>GPU</th>
                        <th>Change</th>
                        <th className="num">Value</th>
                      </tr>
                    </thead>
                    <tbody>
                      {d.items.map((t, i) => (
                        <tr
                          key={`${t.alertId}-${t.at}-${t.to}-${i}`}
                          data-testid="history-row"
                          data-rule={t.rule}
                          data-node={t.hostname}
                          data-from={t.from}
                          data-to={t.to}
                        >
                          <td>
                            <Time at={t.at} />
                          </td>
                          <td>{t.rule}</td>
                          <td>
                            <Badge value={t.severity} />
                          </td>
                          <td>
                            <Link to={nodePath(t.nodeId)}>{t.hostname}</Link>
                          </td>
                          <td className="mono" title={t.gpu ?? undefined}>
                            {t.gpu ? shortGpu(t.gpu) : '—'}
                          </td>
                          <td>
                            <Badge value={t.from} />{' '}
                            <span role="img" aria-label="to">
                              →
                            </span>{' '}
                            <Badge value={t.to} />
                          </td>
                          <td className="num">{t.value ?? '—'}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                {d.items.length >= limit && limit < HISTORY_MAX && (
                  <button
                    type="button"
                    className="btn section"
                    disabled={history.isFetching}
                    onClick={() => setLimit((l) => Math.min(l + HISTORY_PAGE, HISTORY_MAX))}
                    data-testid="history-more"
                  >
                    {history.isFetching ? 'Loading…' : 'Show older changes'}
                  </button>
                )}
              </>
            )
          }
        </QueryView>
      )}
    </section>
  );
}
