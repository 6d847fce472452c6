import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { JoinTokenView } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { parseLabelsText } from '../lib/labels-text.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { useConfirm } from '../components/dialog.js';

/** Copies text to the clipboard; says so, or says to copy by hand when the browser refuses. */
export function CopyButton({ text, testid }: { text: string; testid?: string }) {
  const [done, setDone] = useState<string | null>(null);
  return (
    <button
      type="button"
      className="btn btn-small"
      data-testid={testid}
      onClick={() =>
        navigator.clipboard?.writeText(text).then(
          () => setDone('copied'),
          () => setDone('select and copy by hand'),
        ) ?? setDone('select and copy by hand')
      }
    >
      {done ?? 'Copy'}
    </button>
  );
}

/** Join tokens: create (labels, expiry, reusable, approval), copy the join command once, revoke. */
export function TokensPage() {
  const api = useApi();
  const qc = useQueryClient();
  const isAdmin = useCan('admin');
  const list = useQuery({ queryKey: ['join-tokens'], queryFn: () => api.get<{ items: JoinTokenView[] }>('/api/v1/join-tokens'), enabled: isAdmin });
  const [description, setDescription] = useState('');
  const [labels, setLabels] = useState('');
  const [expiresIn, setExpiresIn] = useState('24h');
  const [reusable, setReusable] = useState(false);
  const [needsApproval, setNeedsApproval] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  const parsed = parseLabelsText(labels);
  const expiryOk = expiresIn === '' || /^\d+(s|m|h|d)$/.test(expiresIn);
  const create = useMutation({
    mutationFn: () => {
      if (!parsed.ok) throw new Error(parsed.error);
      return api.post<JoinTokenView & { token: string }>('/api/v1/join-tokens', {
        ...(description.trim() ? { description: description.trim() } : {}),
        labels: parsed.labels,
        reusable,
        needsApproval,
        ...(expiresIn ? { expiresIn } : {}),
      });
    },
    onSuccess: (t) => {
      setCreated(`gpufleet-agent join ${t.token}`);
      void qc.invalidateQueries({ queryKey: ['join-tokens'] });
    },
  });
  const confirm = useConfirm();
  const revoke = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/join-tokens/${encodeURIComponent(id)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['join-tokens'] }),
  });
  const askRevoke = async (t: JoinTokenView) => {
    const ok = await confirm({
      title: `Revoke join token ${t.id}?`,
      body: `Hosts can no longer join with it${t.description ? ` (${t.description})` : ''}. Nodes that already joined stay in the fleet.`,
      confirmLabel: 'Revoke',
      danger: true,
    });
    if (ok !== null) revoke.mutate(t.id);
  };
  if (!isAdmin) return <Empty>Join tokens need the admin role.</Empty>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <>
      <h1>Join tokens</h1>
      <form className="card section" onSubmit={submit}>
        <h2>New join token</h2>
        <div className="toolbar">
          <div className="field grow">
            <label htmlFor="tok-desc">Description</label>
            <input id="tok-desc" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={200} data-testid="tokens-description" />
          </div>
          <div className="field grow">
            <label htmlFor="tok-labels">
              Labels <small>k=v,k2=v2</small>
            </label>
            <input id="tok-labels" value={labels} onChange={(e) => setLabels(e.target.value)} aria-invalid={!parsed.ok} data-testid="tokens-labels" />
          </div>
          <div className="field">
            <label htmlFor="tok-exp">
              Expires in <small>90m, 24h, 7d</small>
            </label>
            <input
              id="tok-exp"
              value={expiresIn}
              onChange={(e) => setExpiresIn(e.target.value.trim())}
              aria-invalid={!expiryOk}
              size={8}
              data-testid="tokens-expires"
            />
          </div>
          <label>
            <input type="checkbox" checked={reusable} onChange={(e) => setReusable(e.target.checked)} /> reusable
          </label>
          <label title="Hosts joining with it stay PENDING until an admin approves each one">
            <input type="checkbox" checked={needsApproval} onChange={(e) => setNeedsApproval(e.target.checked)} data-testid="tokens-needs-approval" /> needs
            approval
          </label>
          <button type="submit" className="btn btn-primary" disabled={!parsed.ok || !expiryOk || create.isPending} data-testid="tokens-create">
            Create
          </button>
        </div>
        {!parsed.ok && <p className="form-error">{parsed.error}</p>}
        {!expiryOk && <p className="form-error">expiry is a duration such as 90m, 24h or 7d</p>}
        {create.error && (
          <p className="form-error" role="alert">
            {(create.error as Error).message}
          </p>
        )}
        {created && (
          <div className="section" role="status">
            <p>
              <strong>Run this on each new GPU host.</strong> The token is shown only now.
            </p>
            <div className="copy-box">
              <code data-testid="tokens-created-command">{created}</code>
              <CopyButton text={created} testid="tokens-copy" />
            </div>
          </div>
        )}
      </form>
      <QueryView q={list}>
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No join tokens yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Id</th>
                    <th>Description</th>
                    <th>Labels</th>
                    <th>State</th>
                    <th className="num">Uses</th>
                    <th>Created</th>
                    <th>Expires</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {d.items.map((t) => (
                    <tr key={t.id} data-testid="tokens-row" data-id={t.id} data-state={t.state}>
                      <td className="mono">{t.id}</td>
                      <td className="wrap">
                        {t.description}
                        {t.reusable ? ' (reusable)' : ''}
                        {t.needsApproval ? ' (needs approval)' : ''}
                      </td>
                      <td className="wrap">
                        {Object.entries(t.labels).map(([k, v]) => (
                          <span key={k} className="label-chip">
                            {k}={v}
                          </span>
                        ))}
                      </td>
                      <td>
                        <Badge value={t.state} />
                      </td>
                      <td className="num">{t.uses}</td>
                      <td>
                        <Time at={t.createdAt} />
                      </td>
                      <td>{t.expiresAt ? <Time at={t.expiresAt} /> : 'never'}</td>
                      <td>
                        {t.state === 'active' && (
                          <button type="button" className="btn btn-small btn-danger" onClick={() => void askRevoke(t)} data-testid={`tokens-revoke-${t.id}`}>
                            Revoke
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
      {revoke.error && (
        <p className="form-error" role="alert">
          {(revoke.error as Error).message}
        </p>
      )}
    </>
  );
}
