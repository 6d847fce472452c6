import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { Link, useRouter } from '../lib/router.js';
import { groupPagePath, shellWord, type GroupView, type VarsView } from '../lib/job-center.js';
import { Empty, QueryView } from '../components/states.js';
import { Field } from '../components/field.js';
import { VarsEditor } from '../components/vars-editor.js';
import { CliHint } from '../components/cli-hint.js';

/** A priority typed in a form: a whole number -1000..1000 (blank is 0), or why not. */
export function parsePriority(text: string): { ok: true; priority: number } | { ok: false; error: string } {
  const t = text.trim();
  if (t === '') return { ok: true, priority: 0 };
  if (!/^-?\d{1,4}$/.test(t) || Math.abs(Number(t)) > 1000)
    return { ok: false, error: `Priority: "${t.slice(0, 12)}" is not a whole number from -1000 to 1000` };
  return { ok: true, priority: Number(t) };
}

/** Node references typed as `gpu-07, gpu-08` (blank is none). */
export function parseMembers(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Operators create a group: name, priority, selector and/or static members. */
function CreateGroup() {
  const api = useApi();
  const qc = useQueryClient();
  const { navigate } = useRouter();
  const [name, setName] = useState('');
  const [priority, setPriority] = useState('0');
  const [selector, setSelector] = useState('');
  const [members, setMembers] = useState('');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (body: object) => api.post<GroupView>('/api/v1/groups', body),
    onSuccess: (g) => {
      void qc.invalidateQueries({ queryKey: ['groups'] });
      navigate(groupPagePath(g.name));
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const p = parsePriority(priority);
    if (name.trim() === '') return setError('Name: give the group a name (gpu_nodes)');
    if (!p.ok) return setError(p.error);
    setError(null);
    const m = parseMembers(members);
    create.mutate({
      name: name.trim(),
      priority: p.priority,
      ...(description.trim() ? { description: description.trim() } : {}),
      ...(selector.trim() ? { selector: selector.trim() } : {}),
      ...(m.length > 0 ? { members: m } : {}),
    });
  };
  const cli = [
    `gpufleet groups create ${shellWord(name.trim() || 'NAME')} --priority ${shellWord(priority.trim() || '0')}`,
    ...(selector.trim() ? [`-l ${shellWord(selector.trim())}`] : []),
    ...parseMembers(members).map((m) => `--member ${shellWord(m)}`),
  ].join(' ');
  return (
    <form className="card section" onSubmit={submit} noValidate aria-labelledby="group-create-title">
      <h2 id="group-create-title">New group</h2>
      <div className="toolbar">
        <Field id="group-name" label="Name">
          <input id="group-name" value={name} onChange={(e) => setName(e.target.value)} data-testid="group-name" />
        </Field>
        <Field id="group-priority" label="Priority" hint="higher wins">
          <input id="group-priority" size={6} value={priority} onChange={(e) => setPriority(e.target.value)} data-testid="group-priority" />
        </Field>
        <Field id="group-selector" label="Selector" hint="gpu.vendor=nvidia" grow>
          <input id="group-selector" value={selector} onChange={(e) => setSelector(e.target.value)} data-testid="group-selector" />
        </Field>
        <Field id="group-members" label="Members" hint="hostnames, comma separated" grow>
          <input id="group-members" value={members} onChange={(e) => setMembers(e.target.value)} data-testid="group-members" />
        </Field>
        <Field id="group-description" label="Description" grow>
          <input id="group-description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
      </div>
      {(error ?? create.error) && (
        <p className="form-error" role="alert" data-testid="group-create-error">
          {error ?? (create.error as Error).message}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="btn btn-primary" disabled={create.isPending} data-testid="group-create">
          Create group
        </button>
        <code className="muted" data-testid="group-create-cli">
          {cli}
        </code>
      </div>
    </form>
  );
}

/** Node groups (name, priority, selector, members, variables), global variables, and for operators a form to create a group. */
export function GroupsPage() {
  const api = useApi();
  const canEdit = useCan('operator');
  const q = useQuery({ queryKey: ['groups'], queryFn: () => api.get<{ items: GroupView[] }>('/api/v1/groups') });
  const globals = useQuery({ queryKey: ['vars', 'global'], queryFn: () => api.get<VarsView>('/api/v1/vars?scope=global') });
  return (
    <>
      <h1>Groups and variables</h1>
      <QueryView q={q} what="Loading groups">
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No groups yet. A group gathers nodes by a selector or by name, and gives them variables for playbooks.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Group</th>
                    <th className="num">Priority</th>
                    <th>Selector</th>
                    <th className="num">Members</th>
                    <th>Variables</th>
                  </tr>
                </thead>
                <tbody>
                  {[...d.items]
                    .sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : 1))
                    .map((g) => (
                      <tr key={g.name} data-testid="group-row" data-name={g.name}>
                        <td>
                          <Link to={groupPagePath(g.name)} className="mono">
                            {g.name}
                          </Link>
                          {g.description && <div className="muted">{g.description}</div>}
                        </td>
                        <td className="num">{g.priority}</td>
                        <td className="mono">{g.selector ?? '—'}</td>
                        <td className="num">{g.nodes.length}</td>
                        <td className="mono">{Object.keys(g.vars).sort().join(', ') || '—'}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
      {canEdit && <CreateGroup />}
      <section className="card section" aria-labelledby="global-vars-title">
        <h2 id="global-vars-title">Global variables</h2>
        <p className="muted">The lowest layer: groups (by priority), then a node's own variables, then a play's extra variables override them.</p>
        <QueryView q={globals} what="Loading global variables">
          {(v) => <VarsEditor scope="global" vars={v.vars} invalidate={[['vars', 'global']]} testid="global-vars" />}
        </QueryView>
      </section>
      <CliHint command="gpufleet groups ls" />
    </>
  );
}
