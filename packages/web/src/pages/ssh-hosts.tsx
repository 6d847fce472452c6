import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { sshHostApiPath, type SshHostView } from '../lib/job-center.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { useConfirm } from '../components/dialog.js';
import { CliHint } from '../components/cli-hint.js';

/** How often the list is read again: contact state changes as the server polls the hosts. */
export const SSH_HOSTS_REFRESH_MS = 10_000;

function HostKeyCell({ h }: { h: SshHostView }) {
  if (!h.hostKey) return <span className="muted">none pinned</span>;
  return (
    <span className="mono" title={`${h.hostKey.algorithm}, pinned ${h.hostKey.pinnedAt} (${h.hostKey.source})`}>
      {h.hostKey.fingerprint.slice(0, 19)}…
    </span>
  );
}

/** Agentless hosts the server reaches over SSH: where, as whom, the pinned key, contact state; admins trust a changed key, operators collect facts. */
export function SshHostsPage() {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const isAdmin = useCan('admin');
  const canCollect = useCan('operator');
  const q = useQuery({
    queryKey: ['ssh-hosts'],
    queryFn: () => api.get<{ items: SshHostView[] }>('/api/v1/ssh-hosts'),
    refetchInterval: SSH_HOSTS_REFRESH_MS,
  });
  const refresh = () => void qc.invalidateQueries({ queryKey: ['ssh-hosts'] });
  const trust = useMutation({
    mutationFn: (b: { node: string; fingerprint: string; reason: string }) =>
      api.post<SshHostView>(`${sshHostApiPath(b.node)}/trust-host-key`, { fingerprint: b.fingerprint, reason: b.reason }),
    onSuccess: refresh,
  });
  const collect = useMutation({
    mutationFn: (node: string) => api.post<SshHostView>(`${sshHostApiPath(node)}/collect-facts`),
    onSuccess: refresh,
  });
  const askTrust = async (h: SshHostView) => {
    if (!h.refusedHostKey) return;
    const reason = await confirm({
      title: `Trust the new host key of ${h.hostname}?`,
      body: (
        <>
          <p>
            The host now presents a different key. Trust it only if you know why it changed (a reinstall, a rotated key); otherwise someone may be in between.
          </p>
          <dl className="kv">
            <dt>Pinned</dt>
            <dd className="mono" data-testid="trust-old-key">
              {h.hostKey?.fingerprint ?? 'none'}
            </dd>
            <dt>Presented</dt>
            <dd className="mono" data-testid="trust-new-key">
              {h.refusedHostKey.fingerprint} ({h.refusedHostKey.algorithm})
            </dd>
          </dl>
        </>
      ),
      confirmLabel: 'Trust new key',
      danger: true,
      reason: 'required',
    });
    if (reason === null) return;
    trust.mutate({ node: h.nodeId, fingerprint: h.refusedHostKey.fingerprint, reason });
  };
  const error = trust.error ?? collect.error;

  return (
    <>
      <div className="toolbar">
        <h1>SSH hosts</h1>
        {isAdmin && (
          <Link to="/ssh-hosts/add" className="btn btn-primary" data-testid="ssh-add">
            Add node
          </Link>
        )}
      </div>
      {error && (
        <p className="form-error" role="alert" data-testid="ssh-action-error">
          {(error as Error).message}
        </p>
      )}
      <QueryView q={q} what="Loading SSH hosts">
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No SSH hosts yet. Hosts without an agent are added over SSH{isAdmin ? ' with "Add node"' : ' by an admin'}.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Hostname</th>
                    <th>Address</th>
                    <th>User</th>
                    <th>Bastion</th>
                    <th>Host key</th>
                    <th>Contact</th>
                    <th>Facts</th>
                    {(isAdmin || canCollect) && <th>Actions</th>}
                  </tr>
                </thead>
                <tbody>
                  {[...d.items]
                    .sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0))
                    .map((h) => (
                      <tr
                        key={h.nodeId}
                        data-testid="ssh-host-row"
                        data-hostname={h.hostname}
                        data-reachable={String(h.reachable)}
                        data-refused={h.refusedHostKey ? 'yes' : 'no'}
                      >
                        <td>
                          <Link to={nodePath(h.nodeId)} className="mono">
                            {h.hostname}
                          </Link>
                        </td>
                        <td className="mono">
                          {h.address}:{h.port}
                        </td>
                        <td className="mono">
                          {h.user} <span className="muted">({h.loginKind})</span>
                        </td>
                        <td className="mono">{h.bastion ?? '—'}</td>
                        <td>
                          <HostKeyCell h={h} />
                          {h.refusedHostKey && (
                            <div className="form-error" data-testid="ssh-refused-key">
                              refused {h.refusedHostKey.fingerprint.slice(0, 19)}… <Time at={h.refusedHostKey.seenAt} />
                            </div>
                          )}
                        </td>
                        <td>
                          <Badge value={h.reachable ? 'reachable' : 'unreachable'} /> {h.lastContactAt && <Time at={h.lastContactAt} />}
                          {h.lastError && (
                            <div className="muted" data-testid="ssh-last-error">
                              {h.lastError}
                            </div>
                          )}
                        </td>
                        <td>
                          <Time at={h.factsAt} />
                        </td>
                        {(isAdmin || canCollect) && (
                          <td className="actions">
                            {isAdmin && h.refusedHostKey && (
                              <button type="button" className="btn btn-small btn-danger" onClick={() => void askTrust(h)} data-testid="ssh-trust">
                                Trust new key
                              </button>
                            )}
                            {canCollect && (
                              <button
                                type="button"
                                className="btn btn-small"
                                disabled={collect.isPending && collect.variables === h.nodeId}
                                onClick={() => collect.mutate(h.nodeId)}
                                data-testid="ssh-collect"
                              >
                                {collect.isPending && collect.variables === h.nodeId ? 'Collecting…' : 'Collect facts'}
                              </button>
                            )}
                          </td>
                        )}
                      </tr>
                    ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
      <CliHint command="gpufleet ssh-hosts ls" />
    </>
  );
}
