import { useEffect, useMemo, useState, type ChangeEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { JobPayload, JobSpec } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { Link, useRouter } from '../lib/router.js';
import { formatAbsolute } from '../lib/format.js';
import { jobFileRefusal, jobPagePath, type JobFileProblem, type JobFileRefusal, type PlanView, type SubmitJobResponse } from '../lib/workloads.js';
import { capabilityGrants, summarizeCapability } from '../lib/signing/capability-file.js';
import { jobSpecHashOf, WORKLOAD_ABILITY } from '../lib/signing/job-payload.js';
import { useSigner } from '../lib/signing/signer-context.js';
import type { BrowserSigner } from '../lib/signing/types.js';
import { Empty, useNow } from '../components/states.js';
import { PlanDetails } from '../components/plan-view.js';
import { JobSpecSummary } from '../components/job-spec-summary.js';
import { CopyButton } from './tokens.js';
import './run-new.css';
import './job-new.css';

/** The longest job file the server takes (PlanJobRequest, SubmitJobRequest). */
export const MAX_JOB_FILE_BYTES = 1_048_576;
/** Typing pauses this long before the file is read again by the server. */
const PARSE_DEBOUNCE_MS = 400;

/** POST /api/v1/jobs/parse: the job file as the normalized spec the operator signs. */
interface ParsedJob {
  spec: JobSpec;
  specHash: string;
}

/** Problems listed beside the file; a refusal lists at most this many, then counts the rest. */
const PROBLEMS_SHOWN = 10;

/** Where a problem is: `line 9:5, allocations.web.count`. */
function whereText(p: JobFileProblem): string {
  const at = p.line === null ? null : `line ${p.line}${p.col === null ? '' : `:${p.col}`}`;
  return [at, p.field].filter((x) => x !== null).join(', ');
}

/** Why the file was refused: each problem with its line and field, and the line itself. */
function RefusalBox({ refusal, source }: { refusal: JobFileRefusal; source: string }) {
  const lines = source.split('\n');
  const shown = refusal.problems.slice(0, PROBLEMS_SHOWN);
  // A problem that is the server's whole message is shown once, not twice.
  const single = refusal.problems.length === 1 && refusal.problems[0]!.message === refusal.message;
  return (
    <div className="form-error job-problem" role="alert" data-testid="job-problem">
      {!single && <p className="job-problem-summary">{refusal.message}</p>}
      <ul className="job-problems">
        {shown.map((p, i) => {
          const text = p.line === null ? undefined : lines[p.line - 1];
          const where = single ? '' : whereText(p);
          return (
            <li key={i} data-testid="job-problem-item" data-line={p.line ?? ''} data-field={p.field ?? ''}>
              {where && <strong>{where}: </strong>}
              {p.message}
              {text !== undefined && (
                <pre className="job-problem-line">
                  <span className="muted">{p.line} |</span> {text}
                </pre>
              )}
            </li>
          );
        })}
      </ul>
      {refusal.problems.length > shown.length && <p>and {refusal.problems.length - shown.length} more problems.</p>}
    </div>
  );
}

/** What will be signed: the spec in short, who signs under what authority, then the exact payload. */
function SignPreview({ payload, signer, specHash }: { payload: JobPayload; signer: BrowserSigner; specHash: string }) {
  const now = useNow();
  const cap = signer.capability ? summarizeCapability(signer.capability) : null;
  return (
    <div className="run-preview">
      <JobSpecSummary spec={payload.job} />
      <dl className="kv">
        <dt>Spec hash</dt>
        <dd className="mono" data-testid="job-spec-hash">
          {specHash}
        </dd>
        <dt>Signed by</dt>
        <dd className="mono">
          {signer.keyName} · {payload.invoker}
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
      <details>
        <summary>The exact payload to sign</summary>
        <pre className="run-json" data-testid="job-payload">
          {JSON.stringify(payload, null, 2)}
        </pre>
      </details>
    </div>
  );
}

/** The job file's text, from typing or a file; an oversized file is refused here. */
function useSourceInput() {
  const [source, setSource] = useState('');
  const [fileError, setFileError] = useState<string | null>(null);
  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) return;
    if (file.size > MAX_JOB_FILE_BYTES) {
      setFileError(`${file.name} is ${file.size.toLocaleString('en')} bytes; a job file has at most 1 MiB`);
      return;
    }
    setFileError(null);
    setSource(await file.text());
  };
  return { source, setSource, fileError, onFile };
}

/**
 * /jobs/new: paste or upload a job file; the server reads it into the normalized spec (or says
 * which line and field are wrong); "Plan" shows where each allocation would go; "Sign and
 * submit" signs exactly the spec shown with the key unlocked in this tab and submits it.
 */
export function NewJobPage() {
  const api = useApi();
  const qc = useQueryClient();
  const { navigate } = useRouter();
  const canRun = useCan('operator');
  const signer = useSigner();
  const now = useNow();
  const { source, setSource, fileError, onFile } = useSourceInput();
  const [debounced, setDebounced] = useState(source);
  // Bumped after each failed submission so a retry signs a fresh nonce, never the same payload twice.
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    const t = setTimeout(() => setDebounced(source), PARSE_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [source]);

  const hasSource = debounced.trim() !== '';
  const parsed = useQuery({
    queryKey: ['job-parse', debounced],
    queryFn: () => api.post<ParsedJob>('/api/v1/jobs/parse', { source: debounced }),
    enabled: hasSource && canRun,
    retry: false,
    staleTime: Infinity,
  });
  const spec = hasSource ? parsed.data?.spec : undefined;
  const serverHash = hasSource ? parsed.data?.specHash : undefined;
  // The hash of what this tab will sign, computed here: it must be the one the server named.
  const localHash = useQuery({
    queryKey: ['job-spec-hash', serverHash],
    queryFn: () => jobSpecHashOf(spec),
    enabled: spec !== undefined,
    staleTime: Infinity,
  });

  // Issued now: the draft is made again every minute and after each failed attempt.
  const freshness = Math.floor(now / 60_000);
  const draft = useMemo((): { payload: JobPayload } | { error: string } | null => {
    if (!signer || !spec) return null;
    try {
      return { payload: signer.draftJob(spec) };
    } catch (err) {
      return { error: (err as Error).message };
    }
    // The spec is compared by its hash; `attempt` and `freshness` ask for a fresh nonce and time.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [signer, serverHash, attempt, freshness]);

  const plan = useMutation({ mutationFn: (text: string) => api.post<PlanView>('/api/v1/jobs/plan', { source: text }) });
  const submit = useMutation({
    mutationFn: async (payload: JobPayload) => {
      if (!signer) throw new Error('no key is unlocked in this tab');
      const signed = await signer.signJob(payload);
      // The file whose reading was signed (signing waits until typing has been read).
      return api.post<SubmitJobResponse>('/api/v1/jobs', { signed, source: debounced });
    },
    onSuccess: (r) => {
      qc.setQueryData(['job', r.job.name], r.job);
      qc.setQueryData(['job-submitted', r.job.name], { created: r.created, plan: r.plan });
      void qc.invalidateQueries({ queryKey: ['jobs'] });
      navigate(jobPagePath(r.job.name));
    },
    onError: () => setAttempt((a) => a + 1),
  });

  if (!canRun) return <Empty>Running a job needs the operator role.</Empty>;

  const payload = draft && 'payload' in draft ? draft.payload : null;
  const cap = signer?.capability ? summarizeCapability(signer.capability) : null;
  const blockers: string[] = [];
  if (draft && 'error' in draft) blockers.push(draft.error);
  if (signer && !capabilityGrants(signer.capability, WORKLOAD_ABILITY))
    blockers.push(`your capability grants ${signer.capability!.can.join(', ')}, not ${WORKLOAD_ABILITY}: hosts would refuse this job`);
  if (cap && cap.expires < now) blockers.push('your capability has expired: hosts would refuse this job');
  if (localHash.data && serverHash && localHash.data !== serverHash)
    blockers.push(`the server named spec hash ${serverHash.slice(0, 12)}…, but the spec shown hashes to ${localHash.data.slice(0, 12)}…: reload the page`);
  const typing = source !== debounced;
  const problem = hasSource && parsed.error ? jobFileRefusal(parsed.error) : null;
  const planProblem = plan.error ? jobFileRefusal(plan.error) : null;

  return (
    <>
      <h1>Run a job</h1>
      <section className="card section run-form" data-testid="job-form">
        <div className="field grow">
          <label htmlFor="job-source">
            Job file <small>YAML, as for gpufleet jobs run</small>
          </label>
          <textarea
            id="job-source"
            rows={16}
            spellCheck={false}
            value={source}
            onChange={(e) => setSource(e.target.value)}
            aria-invalid={problem !== null}
            placeholder={
              'name: llama\nallocations:\n  web:\n    count: 2\n    executor: container\n    image: ghcr.io/example/vllm:0.6\n    resources: { gpus: 1 }'
            }
            data-testid="job-source"
          />
        </div>
        <div className="toolbar">
          <div className="field">
            <label htmlFor="job-file">Or upload a file</label>
            <input id="job-file" type="file" accept=".yaml,.yml,.json,application/yaml,text/yaml" onChange={(e) => void onFile(e)} data-testid="job-file" />
          </div>
          <button type="button" className="btn" disabled={source.trim() === '' || plan.isPending} onClick={() => plan.mutate(source)} data-testid="job-plan">
            {plan.isPending ? 'Planning…' : 'Plan'}
          </button>
        </div>
        {fileError && (
          <p className="form-error" role="alert" data-testid="job-file-error">
            {fileError}
          </p>
        )}
        <p className="muted run-count" aria-live="polite" data-testid="job-parse-state">
          {!hasSource ? '' : typing || parsed.isFetching ? 'reading the file…' : problem ? '' : spec ? `reads as job ${spec.name}` : ''}
        </p>
        {problem && !typing && <RefusalBox refusal={problem} source={debounced} />}
      </section>

      {(plan.data || planProblem) && (
        <section className="card section" data-testid="job-plan-section">
          <h2>Plan (a dry run: nothing is started)</h2>
          {planProblem ? <RefusalBox refusal={planProblem} source={source} /> : plan.data && <PlanDetails plan={plan.data} testid="job-plan-result" />}
        </section>
      )}

      <section className="card section">
        <h2>Sign and submit</h2>
        {!signer ? (
          <p data-testid="job-need-key">
            No key is unlocked in this tab. <Link to="/keys">Unlock your operator key</Link> to sign here, or run <code>gpufleet jobs run FILE</code> from a
            terminal that has your key.
          </p>
        ) : payload && serverHash ? (
          <>
            <p className="muted">The server read your file as this spec. It is what will be signed, and exactly what hosts will run: check it.</p>
            <SignPreview payload={payload} signer={signer} specHash={serverHash} />
          </>
        ) : (
          <p className="muted">Paste or upload a job file to see what will be signed.</p>
        )}
        {signer && blockers.length > 0 && (
          <ul className="form-error run-blockers" data-testid="job-blockers">
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
              disabled={!payload || typing || blockers.length > 0 || submit.isPending}
              onClick={() => payload && submit.mutate(payload)}
              data-testid="job-sign"
            >
              {submit.isPending ? 'Signing…' : 'Sign and submit'}
            </button>
            <span className="muted">Signs exactly the spec above with {signer.keyName}; the control plane places it and hosts start it.</span>
          </div>
        )}
        {submit.error && (
          <p className="form-error" role="alert" data-testid="job-submit-error">
            {(submit.error as Error).message}
          </p>
        )}
      </section>

      <section className="card section">
        <h2>From a terminal</h2>
        <p className="muted">The same job, signed by the CLI with your key:</p>
        <div className="copy-box">
          <code data-testid="job-cli">gpufleet jobs run {spec ? `${spec.name}.yaml` : 'FILE'}</code>
          <CopyButton text={`gpufleet jobs run ${spec ? `${spec.name}.yaml` : 'FILE'}`} testid="job-cli-copy" />
        </div>
      </section>
    </>
  );
}
