import { useMemo, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { PlayPlanView, SignedCommand } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { Link, useRouter } from '../lib/router.js';
import { formatAbsolute, formatDuration } from '../lib/format.js';
import { parseVarsText, playPagePath, shellWord, type PlayView, type TemplateView } from '../lib/job-center.js';
import { capabilityGrants, summarizeCapability } from '../lib/signing/capability-file.js';
import { checkPlaybookDigest, draftAgentParts, signAgentParts, type AgentPartDraft } from '../lib/signing/play-parts.js';
import { useSigner } from '../lib/signing/signer-context.js';
import type { BrowserSigner } from '../lib/signing/types.js';
import { Empty, QueryView, useNow } from '../components/states.js';
import { Field } from '../components/field.js';
import { CliHint } from '../components/cli-hint.js';
import './run-new.css';
import './play-new.css';

interface Form {
  template: string;
  selector: string;
  serial: string;
  maxFail: string;
  extraVars: string;
  check: boolean;
  reason: string;
}

type Errors = Partial<Record<keyof Form, string>>;

/** The run form read into a StartPlayRequest body, or each field's problem (the server checks again). */
export function readPlayForm(f: Form): { ok: true; body: Record<string, unknown> } | { ok: false; errors: Errors } {
  const errors: Errors = {};
  if (f.template === '') errors.template = 'Template: pick one';
  if (f.selector.trim() === '') errors.selector = 'Selector: which hosts, e.g. group=gpu_nodes or gpu.vendor=nvidia';
  const serial = f.serial.trim();
  if (serial !== '' && !/^([1-9][0-9]{0,5}|([1-9][0-9]?|100)%)$/.test(serial)) errors.serial = 'Serial: a number of hosts (5) or a share of them (25%)';
  const maxFail = f.maxFail.trim();
  if (maxFail !== '' && (!/^\d{1,3}$/.test(maxFail) || Number(maxFail) > 100)) errors.maxFail = 'Max fail %: a whole number from 0 to 100';
  const vars = parseVarsText(f.extraVars);
  if (!vars.ok) errors.extraVars = `Extra vars: ${vars.error}`;
  if (Object.keys(errors).length > 0 || !vars.ok) return { ok: false, errors };
  return {
    ok: true,
    body: {
      template: f.template,
      selector: f.selector.trim(),
      check: f.check,
      ...(serial ? { serial } : {}),
      ...(maxFail ? { maxFailPercentage: Number(maxFail) } : {}),
      ...(Object.keys(vars.vars).length > 0 ? { extraVars: vars.vars } : {}),
      ...(f.reason.trim() ? { reason: f.reason.trim() } : {}),
    },
  };
}

/** The same play from a terminal; `key` when agent hosts' parts are to be signed by the CLI. */
function cliOf(f: Form, key: { name: string; capFile: string | null } | null): string {
  const parts = ['gpufleet plays run', f.template || 'TEMPLATE', '-l', shellWord(f.selector.trim() || 'SELECTOR')];
  if (f.serial.trim()) parts.push('--serial', shellWord(f.serial.trim()));
  if (f.maxFail.trim()) parts.push('--max-fail', shellWord(f.maxFail.trim()));
  for (const line of f.extraVars.split('\n')) if (line.trim() && !line.trim().startsWith('#')) parts.push('-e', shellWord(line.trim()));
  if (f.check) parts.push('--check');
  if (f.reason.trim()) parts.push('--reason', shellWord(f.reason.trim()));
  if (key) parts.push('--key', shellWord(key.name));
  if (key?.capFile) parts.push('--cap', key.capFile);
  return parts.join(' ');
}

/** A plan read for exactly one request body: once the form says something else, it is not shown. */
interface Planned {
  key: string;
  body: Record<string, unknown>;
  plan: PlayPlanView;
}

/** What a start button sends: the agent hosts' drafts to sign, or null to leave them out (or when there are none). */
interface StartChoice {
  planned: Planned;
  drafts: AgentPartDraft[] | null;
}

const hostCount = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function HostNames({ names, testid }: { names: string[]; testid: string }) {
  return (
    <dd className="mono play-plan-hosts" data-testid={testid}>
      {names.length === 0 ? <span className="muted">none</span> : names.join(', ')}
    </dd>
  );
}

/** Who the play runs on, how each kind of host is reached, and the server's notes on the agent hosts. */
function PlanSummary({ plan }: { plan: PlayPlanView }) {
  const t = plan.template;
  const notes = plan.agents.flatMap((a) => a.notes);
  return (
    <div data-testid="play-plan" data-ssh={plan.ssh.length} data-agents={plan.agents.length}>
      <p data-testid="play-plan-summary">
        {t.name} v{t.version}
        {plan.check ? ' in check mode' : ''} runs on {hostCount(plan.ssh.length, 'SSH host')} and {hostCount(plan.agents.length, 'agent host')}.
      </p>
      <dl className="kv">
        <dt>SSH hosts</dt>
        <HostNames names={plan.ssh.map((h) => h.hostname)} testid="play-plan-ssh" />
        <dt>Agent hosts</dt>
        <HostNames names={plan.agents.map((h) => h.hostname)} testid="play-plan-agents" />
        <dt>Playbook</dt>
        <dd className="mono">sha256 {t.sha256}</dd>
        <dt>Timeout</dt>
        <dd>{formatDuration(plan.timeoutMs)}</dd>
      </dl>
      <p className="muted play-plan-how">
        SSH hosts are run by ansible-playbook on the server. Each agent host runs its own part (ansible-playbook against itself), a command signed with your
        operator key that the host checks before running it.
      </p>
      {notes.length > 0 && (
        <ul className="play-plan-notes" data-testid="play-plan-notes">
          {notes.map((n) => (
            <li key={n} data-testid="play-plan-note">
              {n}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** One host's exact payload, rendered only when opened (a large fleet's scripts would fill the page). */
function PartPayload({ draft }: { draft: AgentPartDraft }) {
  const [open, setOpen] = useState(false);
  return (
    <li data-testid="play-part" data-hostname={draft.host.hostname} data-target={draft.payload.target}>
      <details onToggle={(e) => setOpen(e.currentTarget.open)}>
        <summary>
          <span className="mono">{draft.host.hostname}</span> <span className="muted">target {draft.payload.target}</span>
        </summary>
        {open && <pre className="run-json">{JSON.stringify(draft.payload, null, 2)}</pre>}
      </details>
    </li>
  );
}

/** What will be signed for the agent hosts: the same for every part, then each part's exact payload. */
function PartsPreview({ drafts, signer }: { drafts: AgentPartDraft[]; signer: BrowserSigner }) {
  const now = useNow();
  const first = drafts[0]?.payload;
  const cap = signer.capability ? summarizeCapability(signer.capability) : null;
  return (
    <div className="run-preview" data-testid="play-parts">
      <dl className="kv">
        <dt>Parts</dt>
        <dd>one shell command per agent host, targeted at that host alone</dd>
        <dt>Ability</dt>
        <dd className="mono">{first?.ability}</dd>
        <dt>Timeout</dt>
        <dd>{first ? formatDuration(first.timeoutMs) : ''}</dd>
        <dt>Signed by</dt>
        <dd className="mono" data-testid="play-signed-by">
          {signer.keyName} · {signer.did}
        </dd>
        <dt>Authority</dt>
        <dd>
          {cap ? (
            <>
              capability ({cap.can.join(', ')}) from {cap.issuers[0]?.slice(0, 20)}…,{' '}
              {cap.expires < now ? <strong className="form-error">expired {formatAbsolute(cap.expires)}</strong> : `valid until ${formatAbsolute(cap.expires)}`}
            </>
          ) : (
            'none: the key signs as a fleet root'
          )}
        </dd>
      </dl>
      <p className="muted">The exact payload to sign for each host:</p>
      <ul className="play-parts">
        {drafts.map((d) => (
          <PartPayload key={d.host.nodeId} draft={d} />
        ))}
      </ul>
    </div>
  );
}

/** Why the drafted parts cannot be signed and started, as run-new says it for a run. */
function signingBlockers(signer: BrowserSigner, drafted: { drafts: AgentPartDraft[] } | { error: string } | null, now: number): string[] {
  const blockers: string[] = [];
  if (drafted && 'error' in drafted) blockers.push(drafted.error);
  if (!capabilityGrants(signer.capability, 'exec/run'))
    blockers.push(`your capability grants ${signer.capability!.can.join(', ')}, not exec/run: the agent hosts would refuse their parts`);
  const cap = signer.capability ? summarizeCapability(signer.capability) : null;
  if (cap && cap.expires < now) blockers.push('your capability has expired: the agent hosts would refuse their parts');
  return blockers;
}

/** Run a template (operators): which hosts, rolling batches, when to stop, extra variables, check mode; plan, then start. */
export function NewPlayPage() {
  const api = useApi();
  const qc = useQueryClient();
  const { navigate, search } = useRouter();
  const canRun = useCan('operator');
  const signer = useSigner();
  const now = useNow();
  const [form, setForm] = useState<Form>(() => ({
    template: search.get('template') ?? '',
    selector: '',
    serial: '',
    maxFail: '',
    extraVars: '',
    check: false,
    reason: '',
  }));
  const [errors, setErrors] = useState<Errors>({});
  const [planned, setPlanned] = useState<Planned | null>(null);
  // Bumped after every failed start so a retry signs fresh run ids and nonces, never the same parts twice.
  const [attempt, setAttempt] = useState(0);
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => api.get<{ items: TemplateView[] }>('/api/v1/templates'), enabled: canRun });

  const read = readPlayForm(form);
  const currentKey = read.ok ? JSON.stringify(read.body) : null;
  const shown = planned && planned.key === currentKey ? planned : null;
  const agents = shown?.plan.agents.length ?? 0;
  const sshHosts = shown?.plan.ssh.length ?? 0;

  // The server refuses a command once issuedAt + timeout has passed: the drafts are made again
  // every 30 s, so what is shown and signed is always issued now.
  const freshness = Math.floor(now / 30_000);
  const drafted = useMemo((): { drafts: AgentPartDraft[] } | { error: string } | null => {
    if (!signer || !shown || shown.plan.agents.length === 0) return null;
    try {
      return { drafts: draftAgentParts(shown.plan, signer) };
    } catch (err) {
      return { error: (err as Error).message };
    }
    // `attempt` and `freshness` ask for fresh run ids, nonces and times.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [signer, shown, attempt, freshness]);

  const plan = useMutation({
    mutationFn: async (body: Record<string, unknown>): Promise<Planned> => {
      const p = await api.post<PlayPlanView>('/api/v1/plays/plan', body);
      // Checked before anything is shown for signing; signAgentParts checks it again.
      if (p.agents.length > 0) await checkPlaybookDigest(p.template);
      return { key: JSON.stringify(body), body, plan: p };
    },
    onSuccess: setPlanned,
  });
  const start = useMutation({
    mutationFn: async ({ planned: p, drafts }: StartChoice) => {
      let agentCommands: SignedCommand[] | undefined;
      if (drafts) {
        if (!signer) throw new Error('no key is unlocked in this tab');
        agentCommands = await signAgentParts(p.plan, drafts, signer);
      }
      return api.post<PlayView>('/api/v1/plays', { ...p.body, ...(agentCommands ? { agentCommands } : {}) });
    },
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ['plays'] });
      navigate(playPagePath(p.id));
    },
    onError: () => setAttempt((a) => a + 1),
  });
  if (!canRun) return <Empty>Running playbooks is for operators and admins.</Empty>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setErrors(read.ok ? {} : read.errors);
    if (!read.ok) return;
    start.reset();
    setPlanned(null);
    plan.mutate(read.body);
  };
  const busy = plan.isPending || start.isPending;
  const error = (start.error ?? plan.error) as Error | null;
  const drafts = drafted && 'drafts' in drafted ? drafted.drafts : null;
  const blockers = signer && agents > 0 ? signingBlockers(signer, drafted, now) : [];
  const startLabel = form.check ? 'Start check run' : 'Start play';
  const signing = start.isPending && start.variables?.drafts != null;
  const startingPlain = start.isPending && !signing;
  const cliKey = agents > 0 ? { name: signer?.keyName ?? 'KEY', capFile: signer?.capability ? 'cap.json' : null } : null;
  return (
    <>
      <h1>Run a playbook</h1>
      <QueryView q={templates} what="Loading templates">
        {(d) => (
          <form className="card section" onSubmit={submit} noValidate aria-label="Run a playbook">
            <div className="toolbar">
              <Field id="play-template" label="Template" error={errors.template}>
                <select id="play-template" value={form.template} onChange={(e) => set('template', e.target.value)} data-testid="play-template">
                  <option value="">pick a template</option>
                  {[...d.items]
                    .sort((a, b) => (a.name < b.name ? -1 : 1))
                    .map((t) => (
                      <option key={t.name} value={t.name}>
                        {t.name} ({t.category}
                        {t.become ? ', as root' : ''})
                      </option>
                    ))}
                </select>
              </Field>
              <Field id="play-selector" label="Hosts" hint="selector: group=gpu_nodes, gpu.vendor=nvidia" error={errors.selector} grow>
                <input id="play-selector" value={form.selector} onChange={(e) => set('selector', e.target.value)} data-testid="play-selector" />
              </Field>
            </div>
            <div className="toolbar">
              <Field id="play-serial" label="Serial" hint="hosts or % per batch" error={errors.serial}>
                <input
                  id="play-serial"
                  size={8}
                  placeholder="all"
                  value={form.serial}
                  onChange={(e) => set('serial', e.target.value)}
                  data-testid="play-serial"
                />
              </Field>
              <Field id="play-max-fail" label="Max fail %" hint="stop past this share of a batch" error={errors.maxFail}>
                <input
                  id="play-max-fail"
                  size={8}
                  placeholder="none"
                  value={form.maxFail}
                  onChange={(e) => set('maxFail', e.target.value)}
                  data-testid="play-max-fail"
                />
              </Field>
              <Field id="play-reason" label="Reason" grow>
                <input id="play-reason" value={form.reason} onChange={(e) => set('reason', e.target.value)} data-testid="play-reason" />
              </Field>
            </div>
            <Field id="play-extra-vars" label="Extra vars" hint="name=value, one a line; they override every other layer" error={errors.extraVars} grow>
              <textarea
                id="play-extra-vars"
                rows={3}
                spellCheck={false}
                value={form.extraVars}
                onChange={(e) => set('extraVars', e.target.value)}
                data-testid="play-extra-vars"
              />
            </Field>
            <label style={{ display: 'block', marginTop: 8 }}>
              <input type="checkbox" checked={form.check} onChange={(e) => set('check', e.target.checked)} data-testid="play-check" /> Check mode: report what
              would change, change nothing
            </label>
            {!shown && error && (
              <p className="form-error" role="alert" data-testid="play-start-error">
                {error.message}
              </p>
            )}
            <div className="actions" style={{ marginTop: 12 }}>
              <button type="submit" className={shown ? 'btn' : 'btn btn-primary'} disabled={busy} data-testid="play-start">
                {plan.isPending ? 'Planning…' : shown ? 'Plan again' : `${startLabel}…`}
              </button>
              {!shown && <span className="muted">Shows the hosts it runs on first; nothing starts yet.</span>}
            </div>
          </form>
        )}
      </QueryView>
      {shown && (
        <section className="card section" aria-label="Who the play runs on">
          <h2>Who it runs on</h2>
          <PlanSummary plan={shown.plan} />
          {agents > 0 && !signer && (
            <p data-testid="play-need-key">
              No key is unlocked in this tab, and the {hostCount(agents, 'agent host')}' parts must be signed with your operator key.{' '}
              <Link to="/keys">Unlock your operator key</Link>, then come back and plan again
              {sshHosts > 0 ? ', or start on the SSH hosts only.' : '. The selector picks only agent hosts, so nothing can start without it.'}
            </p>
          )}
          {agents > 0 && signer && drafts && <PartsPreview drafts={drafts} signer={signer} />}
          {blockers.length > 0 && (
            <ul className="form-error run-blockers" data-testid="play-blockers">
              {blockers.map((b) => (
                <li key={b}>{b}</li>
              ))}
            </ul>
          )}
          {agents > 0 && sshHosts > 0 && (
            <p data-testid="play-ssh-only-note">
              Starting on the SSH hosts only leaves out the {hostCount(agents, 'agent host')} ({shown.plan.agents.map((a) => a.hostname).join(', ')}): they run
              nothing.
            </p>
          )}
          {error && (
            <p className="form-error" role="alert" data-testid="play-start-error">
              {error.message}
            </p>
          )}
          <div className="actions">
            {agents === 0 && (
              <button
                type="button"
                className="btn btn-primary"
                disabled={busy}
                onClick={() => start.mutate({ planned: shown, drafts: null })}
                data-testid="play-confirm"
              >
                {startingPlain ? 'Starting…' : startLabel}
              </button>
            )}
            {agents > 0 && signer && (
              <button
                type="button"
                className="btn btn-primary"
                disabled={busy || !drafts || blockers.length > 0}
                onClick={() => drafts && start.mutate({ planned: shown, drafts })}
                data-testid="play-confirm"
              >
                {signing ? 'Signing…' : `Sign ${hostCount(agents, 'part')} and ${startLabel.toLowerCase()}`}
              </button>
            )}
            {agents > 0 && sshHosts > 0 && (
              <button type="button" className="btn" disabled={busy} onClick={() => start.mutate({ planned: shown, drafts: null })} data-testid="play-ssh-only">
                {startingPlain ? 'Starting…' : `${startLabel} on SSH hosts only`}
              </button>
            )}
            {agents > 0 && signer && <span className="muted">Signs exactly the parts above with {signer.keyName}, then starts the play.</span>}
          </div>
        </section>
      )}
      <CliHint command={cliOf(form, cliKey)} testid="play-cli" />
    </>
  );
}
