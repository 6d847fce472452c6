import { useCallback, useEffect, useRef, useState } from 'react';
import { keepPreviousData, useQueries, useQuery } from '@tanstack/react-query';
import type { FleetGpuRow } from '@gpufleet/protocol';
import { useApi } from '../lib/auth.js';
import { query } from '../lib/api.js';
import { useRouter } from '../lib/router.js';
import { GPU_STATES, VERDICTS } from '../lib/constants.js';
import { formatBytesOf, formatPct, formatTemp, formatWatts, shortModel } from '../lib/format.js';
import { pagesFor, visibleRange } from '../lib/windowing.js';
import { nodePath } from '../lib/node-path.js';
import { isStale } from '../lib/stale.js';
import { gpuAllocationOf, jobPagePath } from '../lib/workloads.js';
import type { FleetSummary } from '../lib/types.js';
import { Badge, Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { SelectorBox } from '../components/selector-box.js';
import { SortHeader, type SortState } from '../components/sort-header.js';
// Pure module from the protocol's source: the package index pulls in node:crypto (see lib/selector.ts).
import { formatGpuSort, isGpuSort, parseGpuSort, type GpuSortKey } from '../../../protocol/src/gpu-sort.js';
import './gpus.css';

const ROW = 40;
const PAGE = 200;
const REFRESH_MS = 15_000;
const DEFAULT_SORT: SortState<GpuSortKey> = { key: 'node', descending: false };

/** GET /api/v1/gpus with limit: one page of rows and how many match. */
export interface GpuList {
  items: FleetGpuRow[];
  total: number;
}

function sortFromUrl(text: string | null): SortState<GpuSortKey> {
  return isGpuSort(text) ? parseGpuSort(text) : DEFAULT_SORT;
}

/** The allocation holding the GPU, linked to its job's page; a dash when the GPU is free. */
function AllocationCell({ row, onOpen }: { row: FleetGpuRow; onOpen: (path: string) => void }) {
  const alloc = gpuAllocationOf(row);
  if (!alloc) return <span className="muted">—</span>;
  const path = jobPagePath(alloc.job, alloc.name);
  return (
    <a
      href={path}
      className="mono"
      title={`allocation ${alloc.id}`}
      data-testid="gpus-allocation"
      onClick={(e) => {
        // The row opens the node; this link opens the job.
        e.preventDefault();
        e.stopPropagation();
        onOpen(path);
      }}
      onKeyDown={(e) => e.stopPropagation()}
    >
      {alloc.job}/{alloc.name}
    </a>
  );
}

function Row({
  row,
  index,
  onOpen,
  onOpenPath,
}: {
  row: FleetGpuRow | undefined;
  index: number;
  onOpen: (nodeId: string) => void;
  onOpenPath: (path: string) => void;
}) {
  const style = { top: ROW * index, height: ROW };
  if (!row)
    return (
      <div className="vrow" style={style} aria-hidden="true">
        <span className="muted">…</span>
      </div>
    );
  const g = row.gpu;
  const s = g.sample;
  // The readings of a node that is not connected are its last ones: dimmed and said to be old.
  const stale = isStale({ connected: row.nodeStatus !== 'OFFLINE' && row.nodeStatus !== 'DECOMMISSIONED', status: row.nodeStatus });
  const staleTitle = stale ? 'last reading before the node went offline, not live' : undefined;
  return (
    <div
      className={stale ? 'vrow stale' : 'vrow'}
      style={style}
      role="row"
      tabIndex={0}
      data-testid="gpus-row"
      data-node-id={row.nodeId}
      data-hostname={row.hostname}
      data-gpu={g.index}
      data-state={g.state}
      data-health={row.health}
      data-util={s?.utilizationPct ?? ''}
      data-allocation={gpuAllocationOf(row)?.id ?? ''}
      data-stale={stale ? 'true' : undefined}
      onClick={() => onOpen(row.nodeId)}
      onKeyDown={(e) => e.key === 'Enter' && onOpen(row.nodeId)}
    >
      <span role="cell">
        <a href={nodePath(row.nodeId)} onClick={(e) => e.preventDefault()} tabIndex={-1}>
          {row.hostname}
        </a>
        {stale && <span className="muted"> (offline)</span>}
      </span>
      <span role="cell" className="num">
        {g.index}
      </span>
      <span role="cell" className="hide-sm" title={`${g.name ?? ''}\n${g.uuid ?? ''}\n${g.pciBusId ?? ''}`}>
        {shortModel(g.name)}
      </span>
      <span role="cell" className="num" title={staleTitle}>
        {formatPct(s?.utilizationPct)}
      </span>
      <span role="cell" className="num hide-sm" title={staleTitle}>
        {formatBytesOf(s?.memoryUsedBytes, s?.memoryTotalBytes ?? g.memoryTotalBytes)}
      </span>
      <span role="cell" className="num hide-sm" title={staleTitle}>
        {formatTemp(s?.temperatureC)}
      </span>
      <span role="cell" className="num hide-sm" title={staleTitle}>
        {formatWatts(s?.powerDrawW)}
      </span>
      <span role="cell" className="hide-sm" title={g.stateChange?.reason ?? undefined}>
        <Badge value={g.state} />
      </span>
      <span role="cell" className="hide-sm gpus-allocation">
        <AllocationCell row={row} onOpen={onOpenPath} />
      </span>
      <span role="cell" title={g.health.cause ?? undefined}>
        <Badge value={row.health} />
      </span>
    </div>
  );
}

/**
 * Every GPU of the fleet: filters and sort go to the server (GET /api/v1/gpus), which returns
 * pages of 200; only the pages the list is scrolled to are fetched and only the rows in view are
 * rendered, so 80,000 GPUs cost what a screenful costs.
 */
export function GpusPage() {
  const api = useApi();
  const { search, navigate } = useRouter();
  const [selector, setSelector] = useState(search.get('selector') ?? '');
  const [model, setModel] = useState(search.get('model') ?? '');
  const [state, setState] = useState(search.get('state') ?? '');
  const [health, setHealth] = useState(search.get('health') ?? '');
  const [node, setNode] = useState(search.get('node') ?? '');
  const [nodeDebounced, setNodeDebounced] = useState(node);
  const [sort, setSort] = useState(() => sortFromUrl(search.get('sort')));
  const sortParam = formatGpuSort(sort.key, sort.descending);
  const [scroll, setScroll] = useState({ top: 0, height: 600 });
  const listRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const t = setTimeout(() => setNodeDebounced(node.trim()), 250);
    return () => clearTimeout(t);
  }, [node]);

  // Filters and sort live in the URL, so a view can be shared and survives back/forward.
  useEffect(() => {
    const qs = query({ selector, model, state, health, node: nodeDebounced, sort: sortParam === 'node' ? '' : sortParam });
    if (qs !== window.location.search) navigate(`/gpus${qs}`, { replace: true });
  }, [selector, model, state, health, nodeDebounced, sortParam, navigate]);

  // The model filter offers the models the fleet has (the summary counts GPUs by short model).
  const summary = useQuery({ queryKey: ['summary'], queryFn: () => api.get<FleetSummary>('/api/v1/fleet/summary'), staleTime: 60_000 });
  const models = Object.keys(summary.data?.gpus.byModel ?? {}).sort();
  if (model && !models.includes(model)) models.push(model);

  const filters = { selector, model, state, health, node: nodeDebounced, sort: sortParam };
  const pageKey = (p: number) => ['gpus', 'page', filters, p];
  const fetchPage = (p: number) => api.get<GpuList>(`/api/v1/gpus${query({ ...filters, limit: PAGE, offset: p * PAGE })}`);
  // The previous answer stays on screen while a new sort or filter loads: no flash of "Loading".
  const first = useQuery({ queryKey: pageKey(0), queryFn: () => fetchPage(0), refetchInterval: REFRESH_MS, placeholderData: keepPreviousData });
  const total = first.data?.total ?? 0;
  const { start, end } = visibleRange(scroll.top, scroll.height, ROW, total);
  const pages = pagesFor(start, end, PAGE).filter((p) => p > 0);
  const rest = useQueries({ queries: pages.map((p) => ({ queryKey: pageKey(p), queryFn: () => fetchPage(p), refetchInterval: REFRESH_MS })) });
  const pageData = new Map<number, GpuList | undefined>([[0, first.data]]);
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
  // A new filter or sort starts at the top of the list.
  useEffect(() => {
    if (listRef.current) listRef.current.scrollTop = 0;
  }, [selector, model, state, health, nodeDebounced, sortParam]);

  const open = useCallback((id: string) => navigate(nodePath(id)), [navigate]);
  const rows = [];
  for (let i = start; i < end; i++) rows.push(<Row key={i} index={i} row={rowAt(i)} onOpen={open} onOpenPath={navigate} />);
  const header = (key: GpuSortKey, label: string, opts: { className?: string; firstDescending?: boolean } = {}) => (
    <SortHeader
      column={key}
      sort={sort}
      onSort={setSort}
      firstDescending={opts.firstDescending ?? false}
      className={opts.className}
      testId={`gpus-sort-${key}`}
    >
      {label}
    </SortHeader>
  );
  const fetchedAt = first.dataUpdatedAt || null;

  return (
    <>
      <h1>GPUs</h1>
      <div className="toolbar">
        <SelectorBox value={selector} onChange={setSelector} />
        <div className="field">
          <label htmlFor="gpus-model">Model</label>
          <select id="gpus-model" value={model} onChange={(e) => setModel(e.target.value)} data-testid="gpus-model">
            <option value="">any</option>
            {models.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="gpus-state">State</label>
          <select id="gpus-state" value={state} onChange={(e) => setState(e.target.value)} data-testid="gpus-state">
            <option value="">any</option>
            {GPU_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="gpus-health">Health</label>
          <select id="gpus-health" value={health} onChange={(e) => setHealth(e.target.value)} data-testid="gpus-health">
            <option value="">any</option>
            {VERDICTS.map((v) => (
              <option key={v}>{v}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="gpus-node">Node</label>
          <input id="gpus-node" type="search" value={node} onChange={(e) => setNode(e.target.value)} placeholder="hostname or id" data-testid="gpus-node" />
        </div>
      </div>
      {first.isPending ? (
        <Loading what="Loading GPUs" />
      ) : first.error ? (
        <ErrorBox error={first.error} retry={() => void first.refetch()} />
      ) : total === 0 ? (
        <Empty>No GPUs match these filters.</Empty>
      ) : (
        <>
          <p className="muted" data-testid="gpus-total" data-total={total}>
            {total.toLocaleString('en-US')} GPU{total === 1 ? '' : 's'} · read <Time at={fetchedAt} />
          </p>
          <div
            className="vlist gpus-table"
            ref={listRef}
            onScroll={onScroll}
            style={{ height: 'min(70vh, 900px)' }}
            role="table"
            aria-rowcount={total + 1}
            aria-label="GPUs"
          >
            <div className="vrow vhead" style={{ top: 0, height: ROW, position: 'sticky' }} role="row">
              {header('node', 'Node')}
              <span role="columnheader" className="num">
                GPU
              </span>
              {header('model', 'Model', { className: 'hide-sm' })}
              {header('util', 'Util', { className: 'num', firstDescending: true })}
              {header('memory', 'Memory', { className: 'num hide-sm', firstDescending: true })}
              {header('temp', 'Temp', { className: 'num hide-sm', firstDescending: true })}
              {header('power', 'Power', { className: 'num hide-sm', firstDescending: true })}
              <span role="columnheader" className="hide-sm">
                State
              </span>
              <span role="columnheader" className="hide-sm">
                Allocation
              </span>
              <span role="columnheader">Health</span>
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
