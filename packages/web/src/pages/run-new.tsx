import { useMemo, useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import type { CommandPayload } from '@gpufleet/protocol';
import { query } from '../lib/api.js';
import { useApi, useCan } from '../lib/auth.js';
import { Link, useRouter } from '../lib/router.js';
import { formatAbsolute, formatDuration } from '../lib/format.js';
import { Empty, useNow } from '../components/states.js';
import { SelectorBox } from '../components/selector-box.js';
import { capabilityGrants, summarizeCapability } from '../lib/signing/capability-file.js';
import { EMPTY_RUN_FORM, execCliCommand, readRunForm, type RunForm } from '../lib/signing/run-form.js';
import { useSigner } from '../lib/signing/signer-context.js';
import type { BrowserSigner } from '../lib/signing/types.js';
import { CopyButton } from './tokens.js';
import { Field } from '../components/field.js';
import './run-new.css';

/** How many hosts the selector matches now (the run's targets are fixed when it is submitted). */
function useMatchCount(target: string, valid: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: ['run-new-count', target],
    queryFn: () => api.get<{ total: number }>(`/api/v1/nodes${query({ selector: target === '*' ? undefined : target, limit: 1 })}`),
    enabled: valid,
    placeholderData: (prev) => prev,
  });
}

/** What will be signed, field by field, then the exact JSON. */
function Preview({ payload, signer, matching }: { payload: CommandPayload; signer: BrowserSigner; matching: number | null }) {
  const now = useNow();
  const cap = signer.capability ? summarizeCapability(signer.capability) : null;
  const c = payload.command;
  return (
    <div className="run-preview">
      <dl className="kv">
        <dt>Hosts</dt>
        <dd className="mono">
          {payload.target} <span className="muted">({matching === null ? '…' : `${matching} match now`})</span>
        </dd>
        <dt>Command</dt>
        <dd className="mono">
          {c.kind === 'argv' ? (
            c.argv.map((w, i) => (
              <span key={i} className="run-word">
                {w}
              </span>
            ))
          ) : c.kind === 'shell' ? (
            <pre className="run-script">{c.script}</pre>
          ) : (
            c.kind
          )}
        </dd>
        <dt>Ability</dt>
        <dd className="mono">{payload.ability}</dd>
        <dt>Timeout</dt>
        <dd>{formatDuration(payload.timeoutMs)}</dd>
        <dt>Signed by</dt>
        <dd className="mono">
          {signer.keyName} · {payload.invoker}
        </dd>
        <dt>Authority</dt>
        <dd>
          {cap ? (
            <>
              capability from {cap.issuers[0]?.slice(0, 20)}…,{' '}
              {cap.expires < now ? <strong className="form-error">expired {formatAbsolute(cap.expires)}</strong> : `valid until ${formatAbsolute(cap.expires)}`}
            </>
          ) : (
            'none: the key signs as a fleet root'
          )}
        </dd>
      </dl>
      <details open>
        <summary>The exact payload to sign</summary>
        <pre className="run-json" data-testid="run-preview">
          {JSON.stringify(payload, null, 2)}
        </pre>
      </details>
    </div>
  );
}

/** /runs/new: fill in a run, see what will be signed, sign it with the unlocked key, or copy the CLI command. */
export function NewRunPage() {
  const api = useApi();
  const { navigate } = useRouter();
  const canRun = useCan('operator');
  const signer = useSigner();
  const now = useNow();
  const [form, setForm] = useState<RunForm>(EMPTY_RUN_FORM);
  // Bumped after every attempt so a retry signs a fresh run id and nonce, never the same payload twice.
  const [attempt, setAttempt] = useState(0);
  const set = <K extends keyof RunForm>(k: K, v: RunForm[K]) => setForm((f) => ({ ...f, [k]: v }));

  const read = readRunForm(form);
  const count = useMatchCount(read.target, read.errors.selector === undefined);
  const matching = count.data?.total ?? null;
  const requestKey = JSON.stringify(read.request);
  // The server refuses a command once issuedAt + timeout has passed, and that deadline also ends
  // the run: the draft is made again every 30 s, so what is shown and signed is always issued now.
  const freshness = Math.floor(now / 30_000);
  const draft = useMemo((): { payload: CommandPayload } | { error: string } | null => {
    if (!signer || !read.request) return null;
    try {
      return { payload: signer.draft(read.request) };
    } catch (err) {
      return { error: (err as Error).message };
    }
    // The request is compared by value; `attempt` and `freshness` ask for a fresh run id, nonce and time.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [signer, requestKey, attempt, freshness]);

  const submit = useMutation({
    mutationFn: async (payload: CommandPayload) => {
      if (!signer) throw new Error('no key is unlocked in this tab');
      const command = await signer.signDraft(payload);
      const hasBatch = Object.keys(read.batch).length > 0;
      return api.post<{ id: string }>('/api/v1/runs', { command, ...(hasBatch ? { batch: read.batch } : {}) });
    },
    onSuccess: (r) => navigate(`/runs/${encodeURIComponent(r.id)}`),
    onError: () => setAttempt((a) => a + 1),
  });

  if (!canRun) return <Empty>Starting a run needs the operator role.</Empty>;

  const cli = execCliCommand(form, { keyName: signer?.keyName ?? null, capFile: signer?.capability ? 'cap.json' : null });
  const payload = draft && 'payload' in draft ? draft.payload : null;
  const capSummary = signer?.capability ? summarizeCapability(signer.capability) : null;
  const blockers: string[] = [];
  if (draft && 'error' in draft) blockers.push(draft.error);
  if (payload && !capabilityGrants(signer!.capability, payload.ability))
    blockers.push(`your capability grants ${signer!.capability!.can.join(', ')}, not ${payload.ability}: hosts would refuse this run`);
  if (capSummary && capSummary.expires < now) blockers.push('your capability has expired: hosts would refuse this run');
  if (matching === 0) blockers.push('no host matches the selector');

  return (
    <>
      <h1>New run</h1>
      <section className="card section run-form" data-testid="run-form">
        <SelectorBox value={form.selector} onChange={(v) => set('selector', v)} />
        <p className="muted run-count" data-testid="run-count" data-count={matching ?? ''} aria-live="polite">
          {read.errors.selector
            ? ''
            : count.isPending
              ? 'counting hosts…'
              : count.error
                ? `cannot count hosts: ${(count.error as Error).message}`
                : `${matching} host${matching === 1 ? '' : 's'} match${matching === 1 ? 'es' : ''} ${read.target === '*' ? '(every host)' : ''}`}
        </p>
        <fieldset className="run-mode">
          <legend>What to run</legend>
          <label>
            <input type="radio" name="run-mode" checked={form.mode === 'argv'} onChange={() => set('mode', 'argv')} data-testid="run-mode-argv" /> a command
          </label>
          <label>
            <input type="radio" name="run-mode" checked={form.mode === 'shell'} onChange={() => set('mode', 'shell')} data-testid="run-mode-shell" /> a shell
            script (sh -c)
          </label>
        </fieldset>
        {form.mode === 'argv' ? (
          <Field
            id="run-command"
            label="Command"
            hint="words split as a shell would, with no expansion ($VAR, globs): nvidia-smi -L"
            error={read.errors.commandLine}
            grow
          >
            <input
              id="run-command"
              type="text"
              spellCheck={false}
              value={form.commandLine}
              onChange={(e) => set('commandLine', e.target.value)}
              aria-invalid={read.errors.commandLine !== undefined && form.commandLine !== ''}
              data-testid="run-command"
            />
          </Field>
        ) : (
          <Field id="run-script" label="Shell script" hint="run with sh -c on each host" error={read.errors.script} grow>
            <textarea
              id="run-script"
              rows={5}
              spellCheck={false}
              value={form.script}
              onChange={(e) => set('script', e.target.value)}
              data-testid="run-script"
            />
          </Field>
        )}
        <div className="toolbar">
          <Field id="run-timeout" label="Timeout" hint="30s, 10m, 2h" error={read.errors.timeout}>
            <input
              id="run-timeout"
              value={form.timeout}
              size={8}
              onChange={(e) => set('timeout', e.target.value)}
              aria-invalid={read.errors.timeout !== undefined}
              data-testid="run-timeout"
            />
          </Field>
          <Field id="run-batch-size" label="Batch size" hint="hosts or %" error={read.errors.batchSize}>
            <input
              id="run-batch-size"
              value={form.batchSize}
              size={8}
              placeholder="all"
              onChange={(e) => set('batchSize', e.target.value)}
              aria-invalid={read.errors.batchSize !== undefined}
              data-testid="run-batch-size"
            />
          </Field>
          <Field id="run-failure-threshold" label="Failure threshold" hint="stop after more fail" error={read.errors.failureThreshold}>
            <input
              id="run-failure-threshold"
              value={form.failureThreshold}
              size={8}
              placeholder="none"
              onChange={(e) => set('failureThreshold', e.target.value)}
              aria-invalid={read.errors.failureThreshold !== undefined}
              data-testid="run-failure-threshold"
            />
          </Field>
          <Field id="run-max-parallel" label="Max parallel" error={read.errors.maxParallel}>
            <input
              id="run-max-parallel"
              value={form.maxParallel}
              size={8}
              placeholder="no limit"
              onChange={(e) => set('maxParallel', e.target.value)}
              aria-invalid={read.errors.maxParallel !== undefined}
              data-testid="run-max-parallel"
            />
          </Field>
        </div>
        <details className="run-more">
          <summary>Environment, folder, user</summary>
          <div className="toolbar">
            <Field id="run-env" label="Environment" hint="NAME=value, one a line" error={read.errors.env} grow>
              <textarea id="run-env" rows={3} spellCheck={false} value={form.env} onChange={(e) => set('env', e.target.value)} data-testid="run-env" />
            </Field>
            <Field id="run-cwd" label="Working folder" error={read.errors.cwd}>
              <input id="run-cwd" value={form.cwd} onChange={(e) => set('cwd', e.target.value)} data-testid="run-cwd" />
            </Field>
            <Field id="run-runas" label="Run as user" error={read.errors.runAs}>
              <input id="run-runas" value={form.runAs} size={12} onChange={(e) => set('runAs', e.target.value)} data-testid="run-runas" />
            </Field>
          </div>
        </details>
      </section>

      <section className="card section">
        <h2>Sign and run</h2>
        {!signer ? (
          <p data-testid="run-need-key">
            No key is unlocked in this tab. <Link to="/keys">Unlock your operator key</Link> to sign here, or run the command below from a terminal that has
            your key.
          </p>
        ) : payload ? (
          <Preview payload={payload} signer={signer} matching={matching} />
        ) : (
          <p className="muted">Fill in what to run to see what will be signed.</p>
        )}
        {signer && blockers.length > 0 && (
          <ul className="form-error run-blockers" data-testid="run-blockers">
            {blockers.map((b) => (
              <li key={b}>{b}</li>
            ))}
          </ul>
        )}
        {signer && (
          <div className="actions">
            <button
              type="button"
              className="btn btn-primary"
              disabled={!payload || blockers.length > 0 || submit.isPending}
              onClick={() => payload && submit.mutate(payload)}
              data-testid="run-sign"
            >
              {submit.isPending ? 'Signing…' : 'Sign and run'}
            </button>
            <span className="muted">Signs exactly the payload above with {signer.keyName} and starts the run.</span>
          </div>
        )}
        {submit.error && (
          <p className="form-error" role="alert" data-testid="run-error">
            {(submit.error as Error).message}
          </p>
        )}
      </section>

      <section className="card section">
        <h2>From a terminal</h2>
        <p className="muted">The same run, signed by the CLI with your key{signer?.capability ? ' (save your capability as cap.json)' : ''}:</p>
        <div className="copy-box">
          <code data-testid="run-cli">{cli}</code>
          <CopyButton text={cli} testid="run-cli-copy" />
        </div>
      </section>
    </>
  );
}
