import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { useRouter } from '../lib/router.js';
import { parseVarsText, playPagePath, shellWord, type PlayView, type TemplateView } from '../lib/job-center.js';
import { Empty, QueryView } from '../components/states.js';
import { Field } from '../components/field.js';
import { CliHint } from '../components/cli-hint.js';

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

/** The same play from a terminal. */
function cliOf(f: Form): string {
  const parts = ['gpufleet plays run', f.template || 'TEMPLATE', '-l', shellWord(f.selector.trim() || 'SELECTOR')];
  if (f.serial.trim()) parts.push('--serial', shellWord(f.serial.trim()));
  if (f.maxFail.trim()) parts.push('--max-fail', shellWord(f.maxFail.trim()));
  for (const line of f.extraVars.split('\n')) if (line.trim() && !line.trim().startsWith('#')) parts.push('-e', shellWord(line.trim()));
  if (f.check) parts.push('--check');
  if (f.reason.trim()) parts.push('--reason', shellWord(f.reason.trim()));
  return parts.join(' ');
}

/** Run a template (operators): which hosts, rolling batches, when to stop, extra variables, check mode. */
export function NewPlayPage() {
  const api = useApi();
  const qc = useQueryClient();
  const { navigate, search } = useRouter();
  const canRun = useCan('operator');
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
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => api.get<{ items: TemplateView[] }>('/api/v1/templates'), enabled: canRun });
  const start = useMutation({
    mutationFn: (body: Record<string, unknown>) => api.post<PlayView>('/api/v1/plays', body),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ['plays'] });
      navigate(playPagePath(p.id));
    },
  });
  if (!canRun) return <Empty>Running playbooks is for operators and admins.</Empty>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const r = readPlayForm(form);
    setErrors(r.ok ? {} : r.errors);
    if (r.ok) start.mutate(r.body);
  };
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
            {start.error && (
              <p className="form-error" role="alert" data-testid="play-start-error">
                {(start.error as Error).message}
              </p>
            )}
            <div className="actions" style={{ marginTop: 12 }}>
              <button type="submit" className="btn btn-primary" disabled={start.isPending} data-testid="play-start">
                {start.isPending ? 'Starting…' : form.check ? 'Start check run' : 'Start play'}
              </button>
            </div>
          </form>
        )}
      </QueryView>
      <CliHint command={cliOf(form)} testid="play-cli" />
    </>
  );
}
