import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { AlertView, SilenceView } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { Link, useRouter } from '../lib/router.js';
import type { AlertList } from '../lib/types.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { useConfirm } from '../components/dialog.js';
import { AlertHistory } from './alert-history.js';
import { nodePath } from '../lib/node-path.js';

const STATE_TABS = ['firing', 'pending', 'silenced', 'resolved'] as const;
const TABS = [...STATE_TABS, 'history'] as const;
type Tab = (typeof TABS)[number];
const isTab = (t: string | null): t is Tab => TABS.includes(t as Tab);

function AlertTable({ items, firing }: { items: AlertView[]; firing: boolean }) {
  if (items.length === 0) return <Empty>None.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Severity</th>
            <th>Rule</th>
            <th>Node</th>
            <th>GPU</th>
            <th>Summary</th>
            <th className="num">Value</th>
            <th>Since</th>
          </tr>
        </thead>
        <tbody>
          {items.map((a) => (
            <tr key={a.id} data-testid={firing ? 'alerts-firing-row' : 'alerts-row'} data-rule={a.rule} data-node={a.hostname} data-state={a.state}>
              <td>
                <Badge value={a.severity} />
              </td>
              <td>
                {a.rule}
                {a.silenced && (
                  <>
                    {' '}
                    <Badge value="silenced" />
                  </>
                )}
              </td>
              <td>
                <Link to={nodePath(a.nodeId)}>{a.hostname}</Link>
              </td>
              <td>{a.gpuIndex ?? '—'}</td>
              <td className="wrap">{a.summary}</td>
              <td className="num">{a.value ?? '—'}</td>
              <td>
                <Time at={a.resolvedAt ?? a.firedAt ?? a.activeAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function matchersText(s: SilenceView): string {
  return s.matchers.map((m) => `${m.name}${m.op ?? '='}${m.value}`).join(', ');
}

function SilenceForm() {
  const api = useApi();
  const qc = useQueryClient();
  const [rule, setRule] = useState('');
  const [node, setNode] = useState('');
  const [duration, setDuration] = useState('2h');
  const [comment, setComment] = useState('');
  const create = useMutation({
    mutationFn: () => {
      const matchers = [
        ...(rule.trim() ? [{ name: 'alertname', value: rule.trim() }] : []),
        ...(node.trim() ? [{ name: 'hostname', value: node.trim() }] : []),
      ];
      return api.post<SilenceView>('/api/v1/silences', { matchers, duration, comment: comment.trim() || 'silenced from the dashboard' });
    },
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['silences'] });
      void qc.invalidateQueries({ queryKey: ['alerts'] });
      setRule('');
      setNode('');
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form className="card section" onSubmit={submit}>
      <h2>New silence</h2>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="s-rule">Rule (alertname)</label>
          <input id="s-rule" value={rule} onChange={(e) => setRule(e.target.value)} data-testid="silence-rule" />
        </div>
        <div className="field">
          <label htmlFor="s-node">Hostname</label>
          <input id="s-node" value={node} onChange={(e) => setNode(e.target.value)} data-testid="silence-node" />
        </div>
        <div className="field">
          <label htmlFor="s-dur">For</label>
          <input id="s-dur" value={duration} onChange={(e) => setDuration(e.target.value.trim())} size={6} />
        </div>
        <div className="field grow">
          <label htmlFor="s-comment">Comment</label>
          <input id="s-comment" value={comment} onChange={(e) => setComment(e.target.value)} />
        </div>
        <button type="submit" className="btn btn-primary" disabled={create.isPending || (!rule.trim() && !node.trim())} data-testid="silence-create">
          Silence
        </button>
      </div>
      {create.error && (
        <p className="form-error" role="alert">
          {(create.error as Error).message}
        </p>
      )}
    </form>
  );
}

/** Alerts by state or their history of state changes, the silences, and a form to add one. */
export function AlertsPage() {
  const api = useApi();
  const canSilence = useCan('operator');
  const qc = useQueryClient();
  const confirm = useConfirm();
  const { search } = useRouter();
  const initial = search.get('tab');
  const [tab, setTab] = useState<Tab>(isTab(initial) ? initial : 'firing');
  const alerts = useQuery({
    queryKey: ['alerts', 'list', tab],
    queryFn: () => api.get<AlertList>(`/api/v1/alerts?state=${tab}&limit=500`),
    refetchInterval: 15_000,
    enabled: tab !== 'history',
  });
  const silences = useQuery({ queryKey: ['silences'], queryFn: () => api.get<{ items: SilenceView[] }>('/api/v1/silences'), refetchInterval: 30_000 });
  const expire = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/silences/${encodeURIComponent(id)}`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['silences'] });
      void qc.invalidateQueries({ queryKey: ['alerts'] });
    },
  });
  const askExpire = async (s: SilenceView) => {
    const ok = await confirm({
      title: 'Expire this silence now?',
      body: (
        <>
          <p className="mono">{matchersText(s)}</p>
          <p>Alerts it covers notify their receivers again from now on.</p>
        </>
      ),
      confirmLabel: 'Expire silence',
      danger: true,
    });
    if (ok !== null) expire.mutate(s.id);
  };
  return (
    <>
      <h1>Alerts</h1>
      <div className="tabs" role="tablist" aria-label="Alert views">
        {TABS.map((t) => (
          <button
            key={t}
            type="button"
            role="tab"
            aria-selected={tab === t}
            className={`btn btn-small${tab === t ? ' btn-primary' : ''}`}
            onClick={() => setTab(t)}
            data-testid={`alerts-tab-${t}`}
          >
            {t}
          </button>
        ))}
      </div>
      {tab === 'history' ? (
        <AlertHistory />
      ) : (
        <section className="section">
          <QueryView q={alerts}>{(d) => <AlertTable items={d.items} firing={tab === 'firing'} />}</QueryView>
        </section>
      )}
      {canSilence && <SilenceForm />}
      <section className="section">
        <h2>Active silences</h2>
        <QueryView q={silences}>
          {(d) =>
            d.items.length === 0 ? (
              <Empty>No silences.</Empty>
            ) : (
              <ul className="timeline">
                {d.items.map((s) => (
                  <li key={s.id} data-testid="silence-row" data-id={s.id}>
                    <span className="mono">{matchersText(s)}</span>
                    <span className="muted">
                      {s.comment} · {s.createdBy}
                    </span>{' '}
                    until <Time at={s.endsAt} />
                    {canSilence && s.state === 'active' && (
                      <button
                        type="button"
                        className="btn btn-small"
                        disabled={expire.isPending}
                        onClick={() => void askExpire(s)}
                        data-testid={`silence-expire-${s.id}`}
                      >
                        Expire
                      </button>
                    )}
                  </li>
                ))}
              </ul>
            )
          }
        </QueryView>
        {expire.error && (
          <p className="form-error" role="alert">
            {(expire.error as Error).message}
          </p>
        )}
      </section>
    </>
  );
}
