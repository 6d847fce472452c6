import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError } from '../lib/api.js';
import { useApi, useCan } from '../lib/auth.js';
import { Link, useRouter } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { groupApiPath, nodeVarsPagePath, shellWord, type GroupView } from '../lib/job-center.js';
import { Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { Field } from '../components/field.js';
import { useConfirm } from '../components/dialog.js';
import { VarsEditor } from '../components/vars-editor.js';
import { CliHint } from '../components/cli-hint.js';
import '../components/job-center.css';
import { parseMembers, parsePriority } from './groups.js';

/** Operators change a group's priority, selector (blank: none) and description, and add members by name. */
function EditGroup({ g, onSaved }: { g: GroupView; onSaved: () => void }) {
  const api = useApi();
  const [priority, setPriority] = useState(String(g.priority));
  const [selector, setSelector] = useState(g.selector ?? '');
  const [description, setDescription] = useState(g.description);
  const [add, setAdd] = useState('');
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (body: object) => api.patch<GroupView>(groupApiPath(g.name), body),
    onSuccess: () => {
      setAdd('');
      onSaved();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const p = parsePriority(priority);
    if (!p.ok) return setError(p.error);
    setError(null);
    const more = parseMembers(add);
    save.mutate({
      priority: p.priority,
      selector: selector.trim() === '' ? null : selector.trim(),
      description: description.trim(),
      ...(more.length > 0 ? { add: more } : {}),
    });
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Edit group" className="section">
      <div className="toolbar">
        <Field id="group-edit-priority" label="Priority">
          <input id="group-edit-priority" size={6} value={priority} onChange={(e) => setPriority(e.target.value)} data-testid="group-edit-priority" />
        </Field>
        <Field id="group-edit-selector" label="Selector" hint="blank: members by name only" grow>
          <input id="group-edit-selector" value={selector} onChange={(e) => setSelector(e.target.value)} data-testid="group-edit-selector" />
        </Field>
        <Field id="group-edit-add" label="Add members" hint="hostnames, comma separated" grow>
          <input id="group-edit-add" value={add} onChange={(e) => setAdd(e.target.value)} data-testid="group-edit-add" />
        </Field>
        <Field id="group-edit-description" label="Description" grow>
          <input id="group-edit-description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
      </div>
      {(error ?? save.error) && (
        <p className="form-error" role="alert" data-testid="group-edit-error">
          {error ?? (save.error as Error).message}
        </p>
      )}
      <button type="submit" className="btn btn-primary" disabled={save.isPending} data-testid="group-save">
        Save
      </button>
    </form>
  );
}

/** One group: its settings, every node in it now (by selector or by name) and its variables; operators edit all three and delete it. */
export function GroupDetailPage({ name }: { name: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const { navigate } = useRouter();
  const canEdit = useCan('operator');
  const q = useQuery({ queryKey: ['group', name], queryFn: () => api.get<GroupView>(groupApiPath(name)) });
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['group', name] });
    void qc.invalidateQueries({ queryKey: ['groups'] });
  };
  const removeMember = useMutation({ mutationFn: (id: string) => api.patch<GroupView>(groupApiPath(name), { remove: [id] }), onSuccess: refresh });
  const del = useMutation({
    mutationFn: () => api.delete(groupApiPath(name)),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['groups'] });
      navigate('/groups');
    },
  });
  const askDelete = async () => {
    const ok = await confirm({
      title: `Delete group ${name}?`,
      body: 'Its variables go with it; its nodes stay.',
      confirmLabel: 'Delete',
      danger: true,
      typeToConfirm: name,
    });
    if (ok !== null) del.mutate();
  };

  if (q.isPending) return <Loading what="Loading group" />;
  if (q.error instanceof ApiError && q.error.status === 404)
    return (
      <Empty>
        No group named <span className="mono">{name}</span>. <Link to="/groups">All groups</Link>
      </Empty>
    );
  if (!q.data) return <ErrorBox error={q.error ?? 'not found'} retry={() => void q.refetch()} />;
  const g = q.data;
  const byName = new Set(g.members);
  const error = removeMember.error ?? del.error;
  return (
    <>
      <h1 data-testid="group-title">
        Group <span className="mono">{g.name}</span>
      </h1>
      <section className="card section" aria-labelledby="group-settings">
        <h2 id="group-settings">Settings</h2>
        <dl className="kv">
          <dt>Priority</dt>
          <dd data-testid="group-priority-value">{g.priority}</dd>
          <dt>Selector</dt>
          <dd className="mono" data-testid="group-selector-value">
            {g.selector ?? 'none (members by name)'}
          </dd>
          <dt>Description</dt>
          <dd>{g.description || '—'}</dd>
          <dt>Created</dt>
          <dd>
            <Time at={g.createdAt} />
          </dd>
        </dl>
        {canEdit && <EditGroup key={`${g.priority}/${g.selector}/${g.description}/${g.members.join()}`} g={g} onSaved={refresh} />}
      </section>
      <section className="card section" aria-labelledby="group-members-title">
        <h2 id="group-members-title">Members ({g.nodes.length})</h2>
        {error && (
          <p className="form-error" role="alert" data-testid="group-action-error">
            {(error as Error).message}
          </p>
        )}
        {g.nodes.length === 0 ? (
          <Empty>No node is in this group now.</Empty>
        ) : (
          <ul className="plain-list" data-testid="group-members-list">
            {[...g.nodes]
              .sort((a, b) => (a.hostname < b.hostname ? -1 : 1))
              .map((n) => (
                <li key={n.id} data-testid="group-member" data-hostname={n.hostname}>
                  <Link to={nodePath(n.id)} className="mono">
                    {n.hostname}
                  </Link>{' '}
                  <span className="muted">{byName.has(n.id) ? 'by name' : 'by selector'}</span> · <Link to={nodeVarsPagePath(n.id)}>variables</Link>
                  {canEdit && byName.has(n.id) && (
                    <>
                      {' '}
                      <button type="button" className="btn btn-small" onClick={() => removeMember.mutate(n.id)} data-testid="group-member-remove">
                        Remove
                      </button>
                    </>
                  )}
                </li>
              ))}
          </ul>
        )}
      </section>
      <section className="card section" aria-labelledby="group-vars-title">
        <h2 id="group-vars-title">Variables</h2>
        <VarsEditor scope="group" target={g.name} vars={g.vars} invalidate={[['group', name], ['groups']]} testid="group-vars" />
      </section>
      {canEdit && (
        <div className="actions section">
          <button type="button" className="btn btn-danger" onClick={() => void askDelete()} data-testid="group-delete">
            Delete group
          </button>
        </div>
      )}
      <CliHint command={`gpufleet groups get ${shellWord(g.name)}`} />
    </>
  );
}
