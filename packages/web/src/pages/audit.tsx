import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { AuditRecord } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { query } from '../lib/api.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { AuditVerifyPanel, type AuditVerifyReply } from '../components/audit-verify.js';

/** The audit log (admin), newest first, filtered by actor and action. */
export function AuditPage() {
  const api = useApi();
  const isAdmin = useCan('admin');
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const params = { actor: actor.trim(), action: action.trim(), limit: 500 };
  const q = useQuery({
    queryKey: ['audit', params],
    queryFn: () => api.get<{ items: AuditRecord[] }>(`/api/v1/audit${query(params)}`),
    enabled: isAdmin,
    refetchInterval: 30_000,
  });
  if (!isAdmin) return <Empty>The audit log needs the admin role.</Empty>;
  return (
    <>
      <h1>Audit log</h1>
      <AuditVerifyPanel verify={() => api.get<AuditVerifyReply>('/api/v1/audit/verify')} />
      <div className="toolbar">
        <div className="field">
          <label htmlFor="au-actor">Actor</label>
          <input id="au-actor" value={actor} onChange={(e) => setActor(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="au-action">Action</label>
          <input id="au-action" value={action} onChange={(e) => setAction(e.target.value)} placeholder="e.g. run.submit" />
        </div>
      </div>
      <QueryView q={q}>
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No audit records match.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Actor</th>
                    <th>Action</th>
                    <th>Target</th>
                    <th>Result</th>
                    <th>Details</th>
                  </tr>
                </thead>
                <tbody>
                  {d.items.map((r) => (
                    <tr key={r.id} data-testid="audit-row">
                      <td>
                        <Time at={r.at} />
                      </td>
                      <td className="mono">{r.actor}</td>
                      <td>{r.action}</td>
                      <td className="mono">{r.target ?? '—'}</td>
                      <td>
                        <Badge value={r.result} />
                      </td>
                      <td className="wrap mono" style={{ maxWidth: 420, fontSize: '0.8rem' }}>
                        {r.details == null ? '' : JSON.stringify(r.details)}
                      </td>
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
