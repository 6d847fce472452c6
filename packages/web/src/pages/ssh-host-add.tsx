import { useRef, useState, type ChangeEvent, type FormEvent } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import type { NodeView } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { nodePath } from '../lib/node-path.js';
import { formatBytes } from '../lib/format.js';
import { parseLabelsText } from '../lib/labels-text.js';
import { HOST_KEY_CHECK_COMMAND, parsePort, parseUserAtHost, shellWord, type AddSshHostResult, type ProbeSshHostResult } from '../lib/job-center.js';
import { Empty, ErrorBox, Loading } from '../components/states.js';
import { Field } from '../components/field.js';
import { CliHint } from '../components/cli-hint.js';
import '../components/job-center.css';

type LoginKind = 'key' | 'password';
type Login = { kind: 'key'; privateKey: string; passphrase?: string } | { kind: 'password'; password: string };

interface Form {
  hostname: string;
  address: string;
  port: string;
  user: string;
  loginKind: LoginKind;
  passphrase: string;
  password: string;
  bastion: string;
  bastionLoginKind: LoginKind;
  bastionPassword: string;
  labels: string;
}

const EMPTY: Form = {
  hostname: '',
  address: '',
  port: '22',
  user: 'root',
  loginKind: 'key',
  passphrase: '',
  password: '',
  bastion: '',
  bastionLoginKind: 'key',
  bastionPassword: '',
  labels: '',
};

/** A key file held only until the add request is sent: its name to show, its text to send. */
interface HeldKey {
  name: string;
  text: string;
}

type Checked =
  | { ok: true; endpoint: { address: string; port: number; bastion?: object }; request: Record<string, unknown> }
  | { ok: false; errors: Partial<Record<keyof Form | 'key' | 'bastionKey', string>> };

/** Everything step 1 asks, checked before the probe is sent (the server checks again). */
function check(f: Form, key: HeldKey | null, bastionKey: HeldKey | null): Checked {
  const errors: Partial<Record<keyof Form | 'key' | 'bastionKey', string>> = {};
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(f.hostname.trim())) errors.hostname = 'Hostname: letters, digits, dot, dash, underscore (gpu-07)';
  if (f.address.trim() === '') errors.address = 'Address: the IP address or DNS name to reach the host at';
  const port = parsePort(f.port);
  if (!port.ok) errors.port = port.error;
  if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(f.user.trim())) errors.user = 'User: a login name such as root or ubuntu';
  let login: Login | undefined;
  if (f.loginKind === 'key') {
    if (!key) errors.key = 'Key file: pick the private key file';
    else if (key.text.trim() === '') errors.key = `Key file: ${key.name} is empty`;
    else login = { kind: 'key', privateKey: key.text, ...(f.passphrase ? { passphrase: f.passphrase } : {}) };
  } else if (f.password === '') errors.password = 'Password: enter the password, or use a key file';
  else login = { kind: 'password', password: f.password };
  let bastion: object | undefined;
  if (f.bastion.trim() !== '') {
    const b = parseUserAtHost(f.bastion);
    let bLogin: Login | undefined;
    if (f.bastionLoginKind === 'key') {
      if (!bastionKey || bastionKey.text.trim() === '') errors.bastionKey = 'Bastion key file: pick the jump host key file';
      else bLogin = { kind: 'key', privateKey: bastionKey.text };
    } else if (f.bastionPassword === '') errors.bastionPassword = 'Bastion password: enter it, or use a key file';
    else bLogin = { kind: 'password', password: f.bastionPassword };
    if (!b.ok) errors.bastion = b.error;
    else if (bLogin) bastion = { address: b.address, port: b.port, user: b.user, login: bLogin };
  }
  const labels = parseLabelsText(f.labels);
  if (!labels.ok) errors.labels = `Labels: ${labels.error}`;
  if (Object.keys(errors).length > 0 || !port.ok || !login || !labels.ok) return { ok: false, errors };
  const endpoint = { address: f.address.trim(), port: port.port, ...(bastion ? { bastion } : {}) };
  const request = {
    hostname: f.hostname.trim(),
    ...endpoint,
    user: f.user.trim(),
    login,
    ...(Object.keys(labels.labels).length > 0 ? { labels: labels.labels } : {}),
  };
  return { ok: true, endpoint, request };
}

/** The CLI line that adds the same host (no secret in it: the key is a file path, a password an environment variable). */
function cliOf(f: Form, hostKey: string | undefined): string {
  const port = f.port.trim() === '22' ? '' : `:${f.port.trim()}`;
  const parts = [
    'gpufleet nodes add',
    shellWord(f.hostname.trim() || 'HOSTNAME'),
    '--ssh',
    shellWord(`${f.user.trim() || 'USER'}@${f.address.trim() || 'ADDRESS'}${port}`),
  ];
  parts.push(...(f.loginKind === 'key' ? ['--key', 'KEY_FILE'] : ['--password-env', 'SSH_PASSWORD']));
  if (f.bastion.trim()) parts.push('--bastion', shellWord(f.bastion.trim()), ...(f.bastionLoginKind === 'key' ? ['--bastion-key', 'BASTION_KEY_FILE'] : []));
  for (const label of f.labels.split(',')) if (label.trim()) parts.push('-L', shellWord(label.trim()));
  if (hostKey) parts.push('--host-key', hostKey);
  return parts.join(' ');
}

/** Step 3: what the server collected from the new node. */
function FactsPreview({ nodeId }: { nodeId: string }) {
  const api = useApi();
  const q = useQuery({ queryKey: ['node', nodeId], queryFn: () => api.get<NodeView>(`/api/v1/nodes/${encodeURIComponent(nodeId)}`) });
  if (q.isPending) return <Loading what="Reading the node's facts" />;
  if (!q.data) return <ErrorBox error={q.error ?? 'no node'} retry={() => void q.refetch()} />;
  const n = q.data;
  const models = [...new Set(n.gpus.map((g) => g.name ?? g.vendor))];
  return (
    <dl className="kv" data-testid="ssh-add-facts">
      <dt>GPUs</dt>
      <dd data-testid="ssh-add-gpus">{n.gpus.length === 0 ? 'none found' : `${n.gpus.length} × ${models.join(', ')}`}</dd>
      <dt>OS</dt>
      <dd data-testid="ssh-add-os">
        {n.facts.os.name} {n.facts.os.version} ({n.facts.arch})
      </dd>
      <dt>CPUs</dt>
      <dd data-testid="ssh-add-cpus">
        {n.facts.cpu.model} · {n.facts.cpu.cores} cores / {n.facts.cpu.threads} threads
      </dd>
      <dt>Memory</dt>
      <dd data-testid="ssh-add-memory">{formatBytes(n.facts.memoryTotalBytes)}</dd>
    </dl>
  );
}

/**
 * The Add node wizard (admins): SSH details, then the key the host presents to compare on the
 * host itself, then the add with that key pinned and the facts the server collected. Key files
 * are read here and sent once, in the add request; nothing secret stays after it.
 */
export function AddSshHostPage() {
  const api = useApi();
  const isAdmin = useCan('admin');
  const [form, setForm] = useState<Form>(EMPTY);
  const [errors, setErrors] = useState<Extract<Checked, { ok: false }>['errors']>({});
  const [step, setStep] = useState<'details' | 'confirm' | 'added'>('details');
  const [matches, setMatches] = useState(false);
  // Refs, not state: the secrets are never rendered and go once the request is sent.
  const key = useRef<HeldKey | null>(null);
  const bastionKey = useRef<HeldKey | null>(null);
  const [keyNames, setKeyNames] = useState<{ key?: string; bastionKey?: string }>({});
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));

  // A request body holding secrets is handed over here, not as the mutation's variables, which
  // react-query keeps in its cache after the request: taken once, it lives only while sent.
  const outgoing = useRef<object | null>(null);
  const take = (): object => {
    const body = outgoing.current;
    outgoing.current = null;
    if (!body) throw new Error('nothing to send: fill in the SSH details again');
    return body;
  };
  const probe = useMutation({ mutationFn: () => api.post<ProbeSshHostResult>('/api/v1/ssh-hosts/probe', take()) });
  const add = useMutation({
    mutationFn: () => api.post<AddSshHostResult>('/api/v1/ssh-hosts', take()),
    onSettled: () => {
      // Sent once: whatever came of it, the secrets are dropped (a retry picks the file again).
      key.current = null;
      bastionKey.current = null;
      setKeyNames({});
      setForm((f) => ({ ...f, password: '', passphrase: '', bastionPassword: '' }));
    },
    onSuccess: () => setStep('added'),
  });

  if (!isAdmin) return <Empty>Adding nodes over SSH is for admins.</Empty>;

  const pick = (which: 'key' | 'bastionKey') => async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    const held = file ? { name: file.name, text: await file.text() } : null;
    (which === 'key' ? key : bastionKey).current = held;
    setKeyNames((n) => ({ ...n, [which]: held?.name }));
  };
  const toProbe = (e: FormEvent) => {
    e.preventDefault();
    const c = check(form, key.current, bastionKey.current);
    setErrors(c.ok ? {} : c.errors);
    if (!c.ok) return;
    setMatches(false);
    outgoing.current = c.endpoint;
    probe.mutate(undefined, { onSuccess: () => setStep('confirm') });
  };
  const toAdd = () => {
    const c = check(form, key.current, bastionKey.current);
    if (!c.ok || !probe.data) {
      setErrors(c.ok ? {} : c.errors);
      setStep('details');
      return;
    }
    outgoing.current = { ...c.request, hostKey: probe.data.hostKey.fingerprint };
    add.mutate();
  };

  return (
    <>
      <h1>Add node over SSH</h1>
      <ol className="wizard-steps" aria-label="Steps">
        <li aria-current={step === 'details' ? 'step' : undefined}>1. SSH details</li>
        <li aria-current={step === 'confirm' ? 'step' : undefined}>2. Host key</li>
        <li aria-current={step === 'added' ? 'step' : undefined}>3. Facts</li>
      </ol>

      {step === 'details' && (
        <form className="card section" onSubmit={toProbe} noValidate aria-label="SSH details">
          <div className="toolbar">
            <Field id="ssh-hostname" label="Hostname" hint="its name in the fleet" error={errors.hostname}>
              <input id="ssh-hostname" value={form.hostname} onChange={(e) => set('hostname', e.target.value)} data-testid="ssh-hostname" />
            </Field>
            <Field id="ssh-address" label="Address" error={errors.address}>
              <input id="ssh-address" value={form.address} onChange={(e) => set('address', e.target.value)} data-testid="ssh-address" />
            </Field>
            <Field id="ssh-port" label="Port" error={errors.port}>
              <input id="ssh-port" size={6} value={form.port} onChange={(e) => set('port', e.target.value)} data-testid="ssh-port" />
            </Field>
            <Field id="ssh-user" label="User" error={errors.user}>
              <input id="ssh-user" size={10} value={form.user} onChange={(e) => set('user', e.target.value)} data-testid="ssh-user" />
            </Field>
          </div>
          <fieldset>
            <legend>Log in with</legend>
            <label>
              <input type="radio" name="ssh-login" checked={form.loginKind === 'key'} onChange={() => set('loginKind', 'key')} data-testid="ssh-login-key" /> a
              key file
            </label>{' '}
            <label>
              <input
                type="radio"
                name="ssh-login"
                checked={form.loginKind === 'password'}
                onChange={() => set('loginKind', 'password')}
                data-testid="ssh-login-password"
              />{' '}
              a password
            </label>
          </fieldset>
          {form.loginKind === 'key' ? (
            <div className="toolbar">
              <Field
                id="ssh-key"
                label="Private key file"
                hint={keyNames.key ? `read: ${keyNames.key}` : 'read by this page, sent once when the node is added'}
                error={errors.key}
              >
                <input id="ssh-key" type="file" onChange={(e) => void pick('key')(e)} data-testid="ssh-key" />
              </Field>
              <Field id="ssh-passphrase" label="Passphrase" hint="if the key has one">
                <input id="ssh-passphrase" type="password" autoComplete="off" value={form.passphrase} onChange={(e) => set('passphrase', e.target.value)} />
              </Field>
            </div>
          ) : (
            <Field id="ssh-password" label="Password" error={errors.password}>
              <input
                id="ssh-password"
                type="password"
                autoComplete="off"
                value={form.password}
                onChange={(e) => set('password', e.target.value)}
                data-testid="ssh-password"
              />
            </Field>
          )}
          <details className="section" open={form.bastion !== ''}>
            <summary>Through a bastion (jump host)</summary>
            <div className="toolbar">
              <Field id="ssh-bastion" label="Bastion" hint="user@host or user@host:port" error={errors.bastion}>
                <input id="ssh-bastion" value={form.bastion} onChange={(e) => set('bastion', e.target.value)} data-testid="ssh-bastion" />
              </Field>
              <Field id="ssh-bastion-login" label="Bastion login">
                <select id="ssh-bastion-login" value={form.bastionLoginKind} onChange={(e) => set('bastionLoginKind', e.target.value as LoginKind)}>
                  <option value="key">key file</option>
                  <option value="password">password</option>
                </select>
              </Field>
              {form.bastionLoginKind === 'key' ? (
                <Field
                  id="ssh-bastion-key"
                  label="Bastion key file"
                  hint={keyNames.bastionKey ? `read: ${keyNames.bastionKey}` : undefined}
                  error={errors.bastionKey}
                >
                  <input id="ssh-bastion-key" type="file" onChange={(e) => void pick('bastionKey')(e)} data-testid="ssh-bastion-key" />
                </Field>
              ) : (
                <Field id="ssh-bastion-password" label="Bastion password" error={errors.bastionPassword}>
                  <input
                    id="ssh-bastion-password"
                    type="password"
                    autoComplete="off"
                    value={form.bastionPassword}
                    onChange={(e) => set('bastionPassword', e.target.value)}
                  />
                </Field>
              )}
            </div>
          </details>
          <Field id="ssh-labels" label="Labels" hint="k=v,k2=v2" error={errors.labels} grow>
            <input id="ssh-labels" value={form.labels} onChange={(e) => set('labels', e.target.value)} data-testid="ssh-labels" />
          </Field>
          {probe.error && (
            <p className="form-error" role="alert" data-testid="ssh-probe-error">
              {(probe.error as Error).message}
            </p>
          )}
          <div className="actions" style={{ marginTop: 12 }}>
            <button type="submit" className="btn btn-primary" disabled={probe.isPending} data-testid="ssh-probe">
              {probe.isPending ? 'Contacting the host…' : 'Next: check the host key'}
            </button>
            <Link to="/ssh-hosts">Cancel</Link>
          </div>
        </form>
      )}

      {step === 'confirm' && probe.data && (
        <section className="card section" aria-labelledby="ssh-key-title">
          <h2 id="ssh-key-title">Does this key belong to {form.hostname.trim()}?</h2>
          <p>
            The host at <span className="mono">{form.address.trim()}</span> presents this {probe.data.hostKey.algorithm} key:
          </p>
          <p className="mono" data-testid="ssh-fingerprint">
            {probe.data.hostKey.fingerprint}
          </p>
          <p>
            Check it on the host itself (its console, or a session you trust) with <code data-testid="ssh-keygen-command">{HOST_KEY_CHECK_COMMAND}</code> (use
            the .pub file of the key type shown). Only the same fingerprint proves nobody is in between.
          </p>
          <label>
            <input type="checkbox" checked={matches} onChange={(e) => setMatches(e.target.checked)} data-testid="ssh-fingerprint-matches" /> It matches what the
            host shows
          </label>
          {add.error && (
            <p className="form-error" role="alert" data-testid="ssh-add-error">
              {(add.error as Error).message} {key.current === null && form.loginKind === 'key' ? '(pick the key file again to retry)' : ''}
            </p>
          )}
          <div className="actions" style={{ marginTop: 12 }}>
            <button type="button" className="btn btn-primary" disabled={!matches || add.isPending} onClick={toAdd} data-testid="ssh-add-confirm">
              {add.isPending ? 'Adding…' : 'Add node with this key'}
            </button>
            <button type="button" className="btn" onClick={() => setStep('details')} data-testid="ssh-back">
              Back
            </button>
          </div>
        </section>
      )}

      {step === 'added' && add.data && (
        <section className="card section" aria-labelledby="ssh-added-title">
          <h2 id="ssh-added-title" data-testid="ssh-added">
            Added <Link to={nodePath(add.data.host.nodeId)}>{add.data.host.hostname}</Link>
          </h2>
          <p className="muted">
            Host key pinned: <span className="mono">{add.data.host.hostKey?.fingerprint ?? 'none'}</span>
          </p>
          <FactsPreview nodeId={add.data.host.nodeId} />
          <div className="actions" style={{ marginTop: 12 }}>
            <Link to="/ssh-hosts">All SSH hosts</Link>
          </div>
        </section>
      )}
      <CliHint command={cliOf(form, probe.data?.hostKey.fingerprint)} testid="ssh-add-cli" />
    </>
  );
}
