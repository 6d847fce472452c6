import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useApi } from '../lib/auth.js';
import { query } from '../lib/api.js';
import { Link } from '../lib/router.js';
import { checkSelector } from '../lib/selector.js';
import { RUN_EVENT_KINDS } from '../lib/constants.js';
import type { EventList } from '../lib/types.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { nodePath } from '../lib/node-path.js';

const KINDS = [
  '',
  'verdict',
  'transition',
  'match',
  'xid',
  'sxid',
  'fallen-off-bus',
  'counter',
  'gpu-missing',
  'gpu-returned',
  'driver',
  'kernel-log',
  'tool-failure',
  'tool-recovered',
  'agent-started',
];
const RUN_KINDS: readonly string[] = RUN_EVENT_KINDS;
const SINCE = ['', '15m', '1h', '24h', '7d'];

/**
 * The fleet-wide timeline: agent events and health records, newest first, with filters. Run
 * progress (one event per output chunk) would bury the health events, so it stays out unless
 * "show run events" is ticked; the runs pages are where it belongs.
 */
export function EventsPage() {
  const api = useApi();
  const [node, setNode] = useState('');
  const [kind, setKind] = useState('');
  const [since, setSince] = useState('24h');
  const [selector, setSelector] = useState('');
  const [showRuns, setShowRuns] = useState(false);
  const selErr = checkSelector(selector);
  // A run kind picked by name is asked for, whatever the box says.
  const exclude = showRuns || RUN_KINDS.includes(kind) ? '' : RUN_KINDS.join(',');
  const params = { node: node.trim(), kind, since, selector: selErr ? '' : selector.trim(), exclude, limit: 200 };
  const q = useQuery({ queryKey: ['events', 'list', params], queryFn: () => api.get<EventList>(`/api/v1/events${query(params)}`), refetchInterval: 15_000 });
  return (
    <>
      <h1>Events</h1>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="ev-node">Node</label>
          <input id="ev-node" value={node} onChange={(e) => setNode(e.target.value)} placeholder="hostname or id" />
        </div>
        <div className="field">
          <label htmlFor="ev-kind">Kind</label>
          <select id="ev-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
            {[...KINDS, ...(showRuns ? RUN_KINDS : [])].map((k) => (
              <option key={k} value={k}>
                {k || 'any'}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="ev-since">Since</label>
          <select id="ev-since" value={since} onChange={(e) => setSince(e.target.value)}>
            {SINCE.map((k) => (
              <option key={k} value={k}>
                {k || 'any time'}
              </option>
            ))}
          </select>
        </div>
        <div className="field grow">
          <label htmlFor="ev-sel">Label selector</label>
          <input id="ev-sel" value={selector} onChange={(e) => setSelector(e.target.value)} aria-invalid={selErr !== null} />
          {selErr && <span className="form-error">{selErr}</span>}
        </div>
        <label>
          <input
            type="checkbox"
            checked={showRuns}
            onChange={(e) => {
              setShowRuns(e.target.checked);
              if (!e.target.checked && RUN_KINDS.includes(kind)) setKind('');
            }}
            data-testid="events-show-runs"
          />
          Show run events
        </label>
      </div>
      <QueryView q={q}>
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No events match.</Empty>
          ) : (
            <ul className="timeline card" data-testid="events-list">
              {d.items.map((e) => (
                <li key={e.id} data-testid="events-row" data-kind={e.kind}>
                  <Time at={e.at} /> <Badge value={e.kind} />
                  {e.hostname ? <Link to={nodePath(e.nodeId)}>{e.hostname}</Link> : <span className="mono">{e.nodeId.slice(0, 20)}</span>}
                  {e.code !== null && <span className="mono">#{e.code}</span>}
                  {e.gpu && <span className="mono muted">{e.gpu}</span>}
                  <span className="wrap">{e.message}</span>
                  {e.details != null && (
                    <details>
                      <summary>details</summary>
                      <pre className="output" style={{ maxHeight: 200 }}>
                        {JSON.stringify(e.details, null, 2)}
                      </pre>
                    </details>
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </QueryView>
    </>
  );
}
