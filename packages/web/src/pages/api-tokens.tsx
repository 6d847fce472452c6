import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ApiTokenView, Role } from '@gpufleet/protocol';
import { useApi, useAuth, useCan } from '../lib/auth.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { useConfirm } from '../components/dialog.js';
import { CopyButton } from './tokens.js';
import './api-tokens.css';

/** The roles, weakest first, with what each may do (the server's role check is the authority). */
const ROLES = [
  { role: 'viewer', says: 'read everything, change nothing' },
  { role: 'operator', says: 'also cordon, drain, silence and run commands' },
  { role: 'admin', says: 'also tokens, approvals and removing nodes' },
] as const satisfies readonly { role: Role; says: string }[];

/** The id inside an API token `gft_<id>_<secret>`, or null for another shape. */
export function apiTokenId(token: string): string | null {
  return /^gft_([0-9a-f]{16})_/.exec(token.trim())?.[1] ?? null;
}

type Created = ApiTokenView & { token: string };

function CreateForm({ onCreated }: { onCreated: (t: Created) => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const create = useMutation({
    mutationFn: () => api.post<Created>('/api/v1/api-tokens', { name: name.trim(), role }),
    onSuccess: (t) => {
      setName('');
      onCreated(t);
      void qc.invalidateQueries({ queryKey: ['api-tokens'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim() !== '') create.mutate();
  };
  return (
    <form className="card section" onSubmit={submit} aria-labelledby="h-new-api-token">
      <h2 id="h-new-api-token">New API token</h2>
      <div className="toolbar">
        <div className="field grow">
          <label htmlFor="apitok-name">
            Name <small>who or what uses it, e.g. grafana or oncall-alice</small>
          </label>
          <input id="apitok-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={100} autoComplete="off" data-testid="api-tokens-name" />
        </div>
        <div className="field">
          <label htmlFor="apitok-role">Role</label>
          <select
            id="apitok-role"
            value={role}
            onChange={(e) => setRole(e.target.value as Role)}
            aria-describedby="apitok-role-says"
            data-testid="api-tokens-role"
          >
            {ROLES.map((r) => (
              <option key={r.role} value={r.role}>
                {r.role}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="btn btn-primary" disabled={name.trim() === '' || create.isPending} data-testid="api-tokens-create">
          Create
        </button>
      </div>
      <p id="apitok-role-says" className="muted">
        {role}: {ROLES.find((r) => r.role === role)?.says}
      </p>
      {create.error && (
        <p className="form-error" role="alert">
          {(create.error as Error).message}
        </p>
      )}
    </form>
  );
}

/** The new token's secret, shown this once. */
function SecretOnce({ created, onDone }: { created: Created; onDone: () => void }) {
  return (
    <section className="card section secret-once" role="status" aria-labelledby="h-secret" data-testid="api-tokens-secret-box">
      <h2 id="h-secret">
        Token {created.name} ({created.role}) created
      </h2>
      <p>
        <strong>Copy it now: you won&apos;t see it again.</strong> Only a hash is stored; a lost token is revoked and replaced.
      </p>
      <div className="copy-box">
        <code data-testid="api-tokens-secret">{created.token}</code>
        <CopyButton text={created.token} testid="api-tokens-copy" />
      </div>
      <button type="button" className="btn btn-small" onClick={onDone} data-testid="api-tokens-secret-done">
        I have copied it
      </button>
    </section>
  );
}

/** API tokens (admin): list with last use, create with the secret shown once, revoke after asking. */
export function ApiTokensPage() {
  const api = useApi();
  const qc = useQueryClient();
  const { session, signOut } = useAuth();
  const isAdmin = useCan('admin');
  const confirm = useConfirm();
  const [created, setCreated] = useState<Created | null>(null);
  const [showRevoked, setShowRevoked] = useState(false);
  const list = useQuery({ queryKey: ['api-tokens'], queryFn: () => api.get<{ items: ApiTokenView[] }>('/api/v1/api-tokens'), enabled: isAdmin });
  const mine = session ? apiTokenId(session.token) : null;
  const revoke = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/api-tokens/${encodeURIComponent(id)}`),
    onSuccess: (_v, id) => {
      // Revoking the token in use ends this session; say so by going to sign-in at once.
      if (id === mine) signOut();
      else void qc.invalidateQueries({ queryKey: ['api-tokens'] });
    },
  });
  const askRevoke = async (t: ApiTokenView) => {
    const own = t.id === mine;
    const ok = await confirm({
      title: own ? `Revoke ${t.name}, the token you are signed in with?` : `Revoke API token ${t.name}?`,
      body: own ? (
        <p data-testid="api-tokens-own-warning">
          <strong>This signs you out of the dashboard right away</strong>, and every script using this token stops working. Make sure another admin token works
          first.
        </p>
      ) : (
        <p>Everything using it ({t.role}) gets refused from now on. This cannot be undone.</p>
      ),
      confirmLabel: own ? 'Revoke and sign out' : 'Revoke',
      danger: true,
      ...(own ? { typeToConfirm: t.name } : {}),
    });
    if (ok !== null) revoke.mutate(t.id);
  };

  if (!isAdmin) return <Empty>API tokens need the admin role.</Empty>;
  return (
    <>
      <h1>API tokens</h1>
      <p className="muted">Tokens for people and scripts calling the API, the CLI and this dashboard. Each has a role; none expires until revoked.</p>
      <CreateForm onCreated={setCreated} />
      {created && <SecretOnce created={created} onDone={() => setCreated(null)} />}
      <section className="section" aria-labelledby="h-api-token-list">
        <div className="toolbar">
          <h2 id="h-api-token-list" style={{ margin: 0 }}>
            Tokens
          </h2>
          <label>
            <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} data-testid="api-tokens-show-revoked" /> show
            revoked
          </label>
        </div>
        <QueryView q={list} what="Loading API tokens">
          {(d) => {
            const items = d.items.filter((t) => showRevoked || t.revokedAt === null);
            if (items.length === 0) return <Empty>{d.items.length === 0 ? 'No API tokens.' : 'No active API tokens.'}</Empty>;
            return (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Name</th>
                      <th>Role</th>
                      <th>Id</th>
                      <th>Created</th>
                      <th>Last used</th>
                      <th>State</th>
                      <th>
                        <span className="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((t) => (
                      <tr key={t.id} data-testid="api-tokens-row" data-id={t.id} data-name={t.name} data-state={t.revokedAt ? 'revoked' : 'active'}>
                        <td>
                          {t.name}
                          {t.id === mine && (
                            <>
                              {' '}
                              <span className="badge badge-info" title="The token this dashboard is signed in with">
                                this session
                              </span>
                            </>
                          )}
                        </td>
                        <td>{t.role}</td>
                        <td className="mono">{t.id}</td>
                        <td>
                          <Time at={t.createdAt} />
                        </td>
                        <td>{t.lastUsedAt ? <Time at={t.lastUsedAt} /> : 'never'}</td>
                        <td>
                          {t.revokedAt ? (
                            <>
                              <Badge value="revoked" /> <Time at={t.revokedAt} />
                            </>
                          ) : (
                            <Badge value="active" />
                          )}
                        </td>
                        <td>
                          {!t.revokedAt && (
                            <button
                              type="button"
                              className="btn btn-small btn-danger"
                              disabled={revoke.isPending}
                              onClick={() => void askRevoke(t)}
                              data-testid={`api-tokens-revoke-${t.id}`}
                            >
                              Revoke
                            </button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            );
          }}
        </QueryView>
        {revoke.error && (
          <p className="form-error" role="alert">
            {(revoke.error as Error).message}
          </p>
        )}
      </section>
    </>
  );
}
