import { useCallback, useEffect, useRef, useState } from 'react';
import { useQueries, useQuery } from '@tanstack/react-query';
import type { NodeSparkline, NodeSparklines, NodeView } from '@gpufleet/protocol';
import { useApi } from '../lib/auth.js';
import { query } from '../lib/api.js';
import { useRouter } from '../lib/router.js';
import { GPU_VENDORS, NODE_STATUSES } from '../lib/constants.js';
import { formatPct, formatTemp, formatWatts, shortModel } from '../lib/format.js';
import { combinedSelector, pagesFor, visibleRange } from '../lib/windowing.js';
import type { NodeList } from '../lib/types.js';
import { Badge, Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { SelectorBox } from '../components/selector-box.js';
import { SortHeader, type SortState } from '../components/sort-header.js';
import { Sparkline } from '../components/sparkline.js';
// Pure module from the protocol's source: the package index pulls in node:crypto (see lib/selector.ts).
import { formatNodeSort, isNodeSort, parseNodeSort, type NodeSortKey } from '../../../protocol/src/node-sort.js';
import './nodes.css';
import { PendingNodes } from '../components/pending-nodes.js';
import { nodePath } from '../lib/node-path.js';
import { isStale } from '../lib/stale.js';

const ROW = 40;
const PAGE = 200;
/** Sparklines: the last 15 minutes in 30 buckets, refreshed slowly (row values move live via SSE). */
const SPARK_SINCE = '15m';
const SPARK_SPAN = 'last 15 minutes';
const SPARK_POINTS = 30;
const SPARK_REFRESH_MS = 30_000;
const DEFAULT_SORT: SortState<NodeSortKey> = { key: 'hostname', descending: false };

/** Mean and max of a node's GPU readings (util or temperature). */
function gpuStat(n: NodeView, pick: (s: NonNullable<NodeView['gpus'][number]['sample']>) => number | null): { avg: number | null; max: number | null } {
  const vals = n.gpus.map((g) => (g.sample ? pick(g.sample) : null)).filter((v): v is number => typeof v === 'number');
  if (vals.length === 0) return { avg: null, max: null };
  return { avg: vals.reduce((a, b) => a + b, 0) / vals.length, max: Math.max(...vals) };
}

function models(n: NodeView): string {
  const m = [...new Set(n.gpus.map((g) => shortModel(g.name)))];
  return m.length ? m.join(', ') : '—';
}

function power(n: NodeView): number | null {
  const vals = n.gpus.map((g) => g.sample?.powerDrawW).filter((v): v is number => typeof v === 'number');
  return vals.length ? vals.reduce((a, b) => a + b, 0) : null;
}

function sortFromUrl(text: string | null): SortState<NodeSortKey> {
  return isNodeSort(text) ? parseNodeSort(text) : DEFAULT_SORT;
}

/** The sparkline request for one page of rows: bare ids (no did:key:) keep the URL short. */
function sparkIds(items: readonly NodeView[]): string {
  return items
    .map((n) => n.id.replace(/^did:key:/, ''))
    .sort()
    .join(',');
}

function Row({
  node,
  index,
  onOpen,
  spark,
}: {
  node: NodeView | undefined;
  index: number;
  onOpen: (nodeId: string) => void;
  spark: NodeSparkline | undefined;
}) {
  const style = { top: ROW * index, height: ROW };
  if (!node)
    return (
      <div className="vrow" style={style} aria-hidden="true">
        <span className="muted">…</span>
      </div>
    );
  const util = gpuStat(node, (s) => s.utilizationPct);
  const temp = gpuStat(node, (s) => s.temperatureC);
  // An offline node's readings are its last ones: dimmed, said to be old, and without the
  // sparklines, which would look like a live trend.
  const stale = isStale(node);
  const staleNote = stale ? ' (last reading before the node went offline, not live)' : '';
  return (
    <div
      className={stale ? 'vrow stale' : 'vrow'}
      style={style}
      role="row"
      tabIndex={0}
      data-testid="nodes-row"
      data-hostname={node.hostname}
      data-status={node.status}
      data-stale={stale ? 'true' : undefined}
      onClick={() => onOpen(node.id)}
      onKeyDown={(e) => e.key === 'Enter' && onOpen(node.id)}
    >
      <span role="cell">
        <a href={nodePath(node.id)} onClick={(e) => e.preventDefault()} tabIndex={-1}>
          {node.hostname}
        </a>
      </span>
      <span role="cell">
        <Badge value={node.status} />
      </span>
      <span role="cell" className="num">
        {node.gpus.length}
      </span>
      <span role="cell" className="hide-sm">
        {models(node)}
      </span>
      <span role="cell" className="num spark-cell" title={`mean ${formatPct(util.avg)}, max ${formatPct(util.max)}${staleNote}`}>
        {spark && !stale && (
          <Sparkline
            values={spark.util}
            label="Mean GPU utilization"
            span={SPARK_SPAN}
            format={formatPct}
            tone="util"
            domain={[0, 100]}
            testId="nodes-spark-util"
          />
        )}
        <span>{formatPct(util.avg)}</span>
      </span>
      <span role="cell" className="num spark-cell hide-sm" title={`hottest GPU ${formatTemp(temp.max)}${staleNote}`}>
        {spark && !stale && (
          <Sparkline
            values={spark.temp}
            label="Hottest GPU temperature"
            span={SPARK_SPAN}
            format={formatTemp}
            tone="temp"
            minSpan={10}
            testId="nodes-spark-temp"
          />
        )}
        <span>{formatTemp(temp.max)}</span>
      </span>
      <span role="cell" className="num hide-sm">
        {formatWatts(power(node))}
      </span>
      <span role="cell" className="hide-sm" data-testid={stale ? 'nodes-row-last-seen' : undefined}>
        {stale ? (
          <>
            last seen <Time at={node.lastSeenAt} />
          </>
        ) : (
          <Time at={node.lastSeenAt} />
        )}
      </span>
    </div>
  );
}

/** Nodes: server-side filtering and paging, rows rendered only where the list is scrolled to. */
export function NodesPage() {
  const api = useApi();
  const { search, navigate } = useRouter();
  const [selector, setSelector] = useState(search.get('selector') ?? '');
  const [status, setStatus] = useState(search.get('status') ?? '');
  const [vendor, setVendor] = useState(search.get('vendor') ?? '');
  const [q, setQ] = useState(search.get('q') ?? '');
  const [qDebounced, setQDebounced] = useState(q);
  const [sort, setSort] = useState(() => sortFromUrl(search.get('sort')));
  const sortParam = formatNodeSort(sort.key, sort.descending);
  const [scroll, setScroll] = useState({ top: 0, height: 600 });
  const listRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const t = setTimeout(() => setQDebounced(q.trim()), 250);
    return () => clearTimeout(t);
  }, [q]);

  // The filters and the sort live in the URL so a table view can be shared and survives back/forward.
  useEffect(() => {
    const qs = query({ selector, status, vendor, q: qDebounced, sort: sortParam === 'hostname' ? '' : sortParam });
    if (qs !== window.location.search) navigate(`/nodes${qs}`, { replace: true });
  }, [selector, status, vendor, qDebounced, sortParam, navigate]);

  const filters = { selector: combinedSelector(selector, vendor), status, q: qDebounced, sort: sortParam };
  const pageKey = (p: number) => ['nodes', 'page', filters, p];
  const fetchPage = (p: number) => api.get<NodeList>(`/api/v1/nodes${query({ ...filters, limit: PAGE, offset: p * PAGE })}`);

  const first = useQuery({ queryKey: pageKey(0), queryFn: () => fetchPage(0), refetchInterval: 30_000 });
  const total = first.data?.total ?? 0;
  const { start, end } = visibleRange(scroll.top, scroll.height, ROW, total);
  const pages = pagesFor(start, end, PAGE).filter((p) => p > 0);
  const rest = useQueries({ queries: pages.map((p) => ({ queryKey: pageKey(p), queryFn: () => fetchPage(p), refetchInterval: 30_000 })) });
  const pageData = new Map<number, NodeList | undefined>([[0, first.data]]);
  pages.forEach((p, i) => pageData.set(p, rest[i]?.data));
  const rowAt = (i: number) => pageData.get(Math.floor(i / PAGE))?.items[i % PAGE];

  // Sparklines for the pages on screen only, one request per page. Keyed by the page's id set,
  // so a re-sorted page with the same nodes asks nothing new and a changed one asks at once.
  const sparkPages = pagesFor(start, end, PAGE)
    .map((p) => pageData.get(p)?.items)
    .filter((items): items is NodeView[] => items !== undefined && items.length > 0)
    .map(sparkIds);
  const sparks = useQueries({
    queries: sparkPages.map((ids) => ({
      queryKey: ['nodes', 'spark', ids],
      queryFn: () => api.get<NodeSparklines>(`/api/v1/sparklines?ids=${ids}&since=${SPARK_SINCE}&points=${SPARK_POINTS}`),
      refetchInterval: SPARK_REFRESH_MS,
      staleTime: SPARK_REFRESH_MS,
    })),
  });
  const sparkById = new Map<string, NodeSparkline>();
  for (const r of sparks) for (const item of r.data?.items ?? []) sparkById.set(item.id, item);

  const onScroll = useCallback(() => {
    const el = listRef.current;
    if (el) setScroll({ top: el.scrollTop, height: el.clientHeight });
  }, []);
  useEffect(() => {
    onScroll();
    window.addEventListener('resize', onScroll);
    return () => window.removeEventListener('resize', onScroll);
  }, [onScroll]);
  // A new filter starts at the top of the list.
  useEffect(() => {
    if (listRef.current) listRef.current.scrollTop = 0;
  }, [filters.selector, filters.status, filters.q, filters.sort]);

  const open = useCallback((id: string) => navigate(nodePath(id)), [navigate]);
  const rows = [];
  for (let i = start; i < end; i++) {
    const node = rowAt(i);
    rows.push(<Row key={i} index={i} node={node} onOpen={open} spark={node ? sparkById.get(node.id) : undefined} />);
  }
  const header = (key: NodeSortKey, label: string, opts: { className?: string; firstDescending?: boolean } = {}) => (
    <SortHeader
      column={key}
      sort={sort}
      onSort={setSort}
      firstDescending={opts.firstDescending ?? false}
      className={opts.className}
      testId={`nodes-sort-${key}`}
    >
      {label}
    </SortHeader>
  );

  return (
    <>
      <h1>Nodes</h1>
      <PendingNodes />
      <div className="toolbar">
        <SelectorBox value={selector} onChange={setSelector} />
        <div className="field">
          <label htmlFor="nodes-status">Status</label>
          <select id="nodes-status" value={status} onChange={(e) => setStatus(e.target.value)} data-testid="nodes-status">
            <option value="">any</option>
            {NODE_STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="nodes-vendor">Vendor</label>
          <select id="nodes-vendor" value={vendor} onChange={(e) => setVendor(e.target.value)} data-testid="nodes-vendor">
            <option value="">any</option>
            {GPU_VENDORS.map((v) => (
              <option key={v}>{v}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="nodes-q">Hostname</label>
          <input id="nodes-q" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="search" data-testid="nodes-search" />
        </div>
      </div>
      {first.isPending ? (
        <Loading what="Loading nodes" />
      ) : first.error ? (
        <ErrorBox error={first.error} retry={() => void first.refetch()} />
      ) : total === 0 ? (
        <Empty>No nodes match these filters.</Empty>
      ) : (
        <>
          <p className="muted" data-testid="nodes-total" data-total={total}>
            {total} node{total === 1 ? '' : 's'}
          </p>
          <div
            className="vlist nodes-table"
            ref={listRef}
            onScroll={onScroll}
            style={{ height: 'min(70vh, 900px)' }}
            role="table"
            aria-rowcount={total + 1}
            aria-label="Nodes"
          >
            <div className="vrow vhead" style={{ top: 0, height: ROW, position: 'sticky' }} role="row">
              {header('hostname', 'Hostname')}
              {header('status', 'Status')}
              {header('gpus', 'GPUs', { className: 'num', firstDescending: true })}
              <span role="columnheader" className="hide-sm">
                Model
              </span>
              {header('util', 'Util', { className: 'num', firstDescending: true })}
              {header('temp', 'Temp', { className: 'num hide-sm', firstDescending: true })}
              {header('power', 'Power', { className: 'num hide-sm', firstDescending: true })}
              {header('lastSeen', 'Last seen', { className: 'hide-sm', firstDescending: true })}
            </div>
            <div style={{ position: 'relative', height: ROW * total }} role="rowgroup">
              {rows}
            </div>
          </div>
        </>
      )}
    </>
  );
}
