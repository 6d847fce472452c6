import { useCallback, useEffect, useRef, useState } from 'react';
import { useQueries, useQuery } from '@tanstack/react-query';
import type { NodeView } from '@gpufleet/protocol';
import { useApi } from '../lib/auth.js';
import { query } from '../lib/api.js';
import { useRouter } from '../lib/router.js';
import { GPU_VENDORS, NODE_STATUSES } from '../lib/constants.js';
import { formatPct, formatTemp, shortModel } from '../lib/format.js';
import { combinedSelector, pagesFor, visibleRange } from '../lib/windowing.js';
import type { NodeList } from '../lib/types.js';
import { Badge, Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { SelectorBox } from '../components/selector-box.js';

const ROW = 40;
const PAGE = 200;

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

function Row({ node, index, onOpen }: { node: NodeView | undefined; index: number; onOpen: (hostname: string) => void }) {
  const style = { top: ROW * index, height: ROW };
  if (!node) return <div className="vrow" style={style} aria-hidden="true"><span className="muted">…</span></div>;
  const util = gpuStat(node, (s) => s.utilizationPct);
  const temp = gpuStat(node, (s) => s.temperatureC);
  return (
    <div
      className="vrow"
      style={style}
      role="row"
      tabIndex={0}
      data-testid="nodes-row"
      data-hostname={node.hostname}
      data-status={node.status}
      onClick={() => onOpen(node.hostname)}
      onKeyDown={(e) => e.key === 'Enter' && onOpen(node.hostname)}
    >
      <span role="cell">
        <a href={`/nodes/${encodeURIComponent(node.hostname)}`} onClick={(e) => e.preventDefault()} tabIndex={-1}>
          {node.hostname}
        </a>
      </span>
      <span role="cell">
        <Badge value={node.status} />
      </span>
      <span role="cell" className="num">{node.gpus.length}</span>
      <span role="cell" className="hide-sm">{models(node)}</span>
      <span role="cell" className="num" title={`mean ${formatPct(util.avg)}, max ${formatPct(util.max)}`}>
        <span className="bar hide-sm" aria-hidden="true"><i style={{ width: `${Math.round(util.avg ?? 0)}%` }} /></span>
        {formatPct(util.avg)}
      </span>
      <span role="cell" className="num hide-sm" title={`hottest GPU ${formatTemp(temp.max)}`}>{formatTemp(temp.max)}</span>
      <span role="cell" className="hide-sm">
        <Time at={node.lastSeenAt} />
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
  const [scroll, setScroll] = useState({ top: 0, height: 600 });
  const listRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const t = setTimeout(() => setQDebounced(q.trim()), 250);
    return () => clearTimeout(t);
  }, [q]);

  // The filters live in the URL so a filtered table can be shared and survives back/forward.
  useEffect(() => {
    const qs = query({ selector, status, vendor, q: qDebounced });
    if (qs !== window.location.search) navigate(`/nodes${qs}`, { replace: true });
  }, [selector, status, vendor, qDebounced, navigate]);

  const filters = { selector: combinedSelector(selector, vendor), status, q: qDebounced };
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
  }, [filters.selector, filters.status, filters.q]);

  const open = useCallback((h: string) => navigate(`/nodes/${encodeURIComponent(h)}`), [navigate]);
  const rows = [];
  for (let i = start; i < end; i++) rows.push(<Row key={i} index={i} node={rowAt(i)} onOpen={open} />);

  return (
    <>
      <h1>Nodes</h1>
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
          <div className="vlist" ref={listRef} onScroll={onScroll} style={{ height: 'min(70vh, 900px)' }} role="table" aria-rowcount={total + 1} aria-label="Nodes">
            <div className="vrow vhead" style={{ top: 0, height: ROW, position: 'sticky' }} role="row">
              <span role="columnheader">Hostname</span>
              <span role="columnheader">Status</span>
              <span role="columnheader" className="num">GPUs</span>
              <span role="columnheader" className="hide-sm">Model</span>
              <span role="columnheader" className="num">Util</span>
              <span role="columnheader" className="num hide-sm">Temp</span>
              <span role="columnheader" className="hide-sm">Last seen</span>
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
