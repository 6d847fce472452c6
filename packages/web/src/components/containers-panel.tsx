import { useEffect, useRef, useState } from 'react';
import type { NodeView, RunView } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { useSigner } from '../lib/signing/signer-context.js';
import type { BrowserSigner } from '../lib/signing/types.js';
import { readRunOutput, waitForRun } from '../lib/run-follow.js';
import {
  CONTAINER_OP_TIMEOUT_MS,
  LOG_TAIL_TIMEOUT_MS,
  StreamByHost,
  abilityForContainerOp,
  cliHints,
  hostSelector,
  logTailSpec,
  parseListOutput,
  targetProblems,
  type ContainerAction,
  type ContainerRow,
  type ContainerSpec,
  type SubmittedRun,
  type TargetProblem,
} from '../lib/containers.js';
import { useConfirm } from './dialog.js';
import { Loading, Time } from './states.js';
import { ContainerLogTail } from './container-log-tail.js';
import './containers-panel.css';

/** What each action does, told in its confirmation before the key signs it. */
const ACTIONS: Record<ContainerAction, { label: string; body: string; danger: boolean }> = {
  restart: { label: 'Restart', body: 'The container is stopped and started again: whatever runs in it is interrupted.', danger: true },
  stop: { label: 'Stop', body: 'The container stops and stays stopped until someone starts it.', danger: true },
  start: { label: 'Start', body: 'The container starts again.', danger: false },
};

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Without a key (or an operator token) nothing can be signed here: say why, and how else. */
function SignatureNeeded({ hostname, hasKey, canOperate }: { hostname: string; hasKey: boolean; canOperate: boolean }) {
  return (
    <div data-testid="containers-need-key">
      <p>
        Listing containers, reading their logs and restarting them are commands signed with your operator key: the host checks the signature, and what your key
        may do, before it asks its container engine.
      </p>
      {!canOperate && <p>Your API token is a viewer&apos;s: signed commands are submitted with an operator token.</p>}
      {!hasKey && (
        <p>
          <Link to="/keys" data-testid="containers-keys-link">
            Unlock your signing key
          </Link>{' '}
          in this tab to do it here, or from a terminal:
        </p>
      )}
      <pre className="containers-cli" data-testid="containers-cli">
        {cliHints(hostname).join('\n')}
      </pre>
    </div>
  );
}

/**
 * What every button here signs, in view before any click (no signature is made without one):
 * the key, the host the commands are meant for, and the capability the key presents.
 */
function SigningSummary({ signer, target }: { signer: BrowserSigner; target: string }) {
  const exp = signer.capability?.exp;
  return (
    <p className="muted containers-signing" data-testid="containers-signing">
      Each button signs one command with your key <strong className="mono">{signer.keyName}</strong>{' '}
      <span className="mono" title={signer.did}>
        ({shortDid(signer.did)})
      </span>{' '}
      for <code>{target}</code>
      {signer.capability ? (
        <>
          , under its capability (expires <Time at={exp} />)
        </>
      ) : (
        ', a fleet root key'
      )}
      . Listing and logs need <code>container/logs</code>.
    </p>
  );
}

const shortDid = (did: string) => (did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-6)}` : did);

function StateBadge({ state }: { state: string }) {
  const tone = state === 'running' ? 'ok' : state === 'restarting' || state === 'paused' || state === 'created' ? 'warn' : state === 'dead' ? 'bad' : 'neutral';
  return <span className={`badge container-state container-state-${tone}`}>{state || 'unknown'}</span>;
}

function Problems({ problems }: { problems: TargetProblem[] }) {
  if (problems.length === 0) return null;
  return (
    <ul className="containers-problems" role="alert">
      {problems.map((p) => (
        <li key={p.nodeId} data-testid="containers-problem" data-state={p.state} data-host={p.hostname}>
          <strong>{p.hostname}</strong> {p.message}
          {p.hint && <span className="containers-hint"> {p.hint}</span>}
        </li>
      ))}
    </ul>
  );
}

/** The panel once a key is unlocked: list, tail, restart, stop and start, each a signed run. */
function ContainerControls({ node, signer }: { node: NodeView; signer: BrowserSigner }) {
  const api = useApi();
  const confirm = useConfirm();
  const [rows, setRows] = useState<ContainerRow[] | null>(null);
  const [garbled, setGarbled] = useState(0);
  const [busy, setBusy] = useState<string | null>(null);
  const [problems, setProblems] = useState<TargetProblem[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tail, setTail] = useState<{ runId: string; container: string } | null>(null);
  const [stale, setStale] = useState(false);
  // Waits still under way end with the panel (their EventSources are closed).
  const alive = useRef(new AbortController());
  useEffect(() => {
    const ac = new AbortController();
    alive.current = ac;
    return () => ac.abort();
  }, []);

  const target = hostSelector(node.hostname);
  const submit = async (command: ContainerSpec, timeoutMs: number): Promise<SubmittedRun> => {
    const signed = await signer.sign({ command, target, timeoutMs });
    return api.post<SubmittedRun>('/api/v1/runs', { command: signed });
  };

  /** Submits a short operation and waits for it: the final run and each host's output. */
  const runToEnd = async (command: ContainerSpec): Promise<{ view: RunView; stdout: StreamByHost; stderr: StreamByHost }> => {
    const submitted = await submit(command, CONTAINER_OP_TIMEOUT_MS);
    const view = await waitForRun(api, submitted.id, alive.current.signal);
    const stdout = new StreamByHost('stdout');
    const stderr = new StreamByHost('stderr');
    for (const piece of await readRunOutput(api, submitted.id)) {
      stdout.add(piece);
      stderr.add(piece);
    }
    return { view, stdout, stderr };
  };

  const list = async () => {
    setBusy('list');
    setError(null);
    try {
      const { view, stdout, stderr } = await runToEnd({ kind: 'container', op: 'ls', container: '*' });
      const parsed = parseListOutput(node.hostname, node.id, stdout.text(node.id));
      setRows(parsed.rows.sort((a, b) => a.name.localeCompare(b.name)));
      setGarbled(parsed.bad);
      setStale(false);
      setProblems(targetProblems(view.targets ?? [], (id) => stderr.text(id)));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(null);
    }
  };

  const act = async (op: ContainerAction, row: ContainerRow) => {
    const a = ACTIONS[op];
    const ok = await confirm({
      title: `${a.label} ${row.name} on ${node.hostname}?`,
      body: (
        <>
          <p>{a.body}</p>
          <dl className="kv containers-preview" data-testid="containers-preview">
            <dt>Command</dt>
            <dd className="mono">{`${op} ${row.name || row.id}`}</dd>
            <dt>Hosts</dt>
            <dd className="mono">{target}</dd>
            <dt>Ability</dt>
            <dd className="mono">{abilityForContainerOp(op)}</dd>
            <dt>Signed by</dt>
            <dd className="mono">
              {signer.keyName} ({shortDid(signer.did)})
            </dd>
            <dt>Capability</dt>
            <dd>
              {signer.capability ? (
                <>
                  expires <Time at={signer.capability.exp} />
                </>
              ) : (
                'none: a fleet root key'
              )}
            </dd>
          </dl>
        </>
      ),
      confirmLabel: `Sign and ${a.label.toLowerCase()}`,
      danger: a.danger,
    });
    if (ok === null) return;
    setBusy(`${op}:${row.name}`);
    setError(null);
    setNotice(null);
    try {
      const { view, stdout, stderr } = await runToEnd({ kind: 'container', op, container: row.name || row.id });
      const found = targetProblems(view.targets ?? [], (id) => stderr.text(id));
      setProblems(found);
      // Listing again would sign another command: that waits for the operator's click.
      if (found.length === 0) {
        setNotice(stdout.text(node.id).trim() || `${a.label}: done`);
        setStale(true);
      }
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy((b) => (b === `${op}:${row.name}` ? null : b));
    }
  };

  const openLogs = async (row: ContainerRow) => {
    const container = row.name || row.id;
    setBusy(`logs:${row.name}`);
    setError(null);
    try {
      const submitted = await submit(logTailSpec(container), LOG_TAIL_TIMEOUT_MS);
      setTail({ runId: submitted.id, container });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <div>
      <div className="toolbar containers-toolbar">
        <button type="button" className="btn btn-primary" onClick={() => void list()} disabled={busy !== null} data-testid="containers-list">
          {rows === null ? 'List containers' : 'List again'}
        </button>
      </div>
      <SigningSummary signer={signer} target={target} />
      {busy === 'list' && <Loading what={`Asking ${node.hostname} for its containers`} />}
      {busy !== null && busy !== 'list' && <Loading what={`Waiting for ${node.hostname}`} />}
      {error && (
        <p className="form-error" role="alert" data-testid="containers-error">
          {error}
        </p>
      )}
      <Problems problems={problems} />
      {notice && (
        <p className="containers-notice" role="status" data-testid="containers-notice">
          {notice}
        </p>
      )}
      {stale && rows !== null && (
        <p className="muted" data-testid="containers-stale">
          The list is from before that: list again to see the new state.
        </p>
      )}
      {garbled > 0 && (
        <p className="muted">
          {garbled} line{garbled === 1 ? '' : 's'} of the host&apos;s answer could not be read.
        </p>
      )}
      {rows !== null && rows.length === 0 && problems.length === 0 && (
        <p className="muted" data-testid="containers-empty">
          No containers on this host.
        </p>
      )}
      {rows !== null && rows.length > 0 && (
        <div className="table-wrap">
          <table className="containers-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Image</th>
                <th>State</th>
                <th>Status</th>
                <th>Created</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id} data-testid="container-row" data-name={r.name} data-state={r.state}>
                  <td className="mono" title={r.id}>
                    {r.name}
                  </td>
                  <td className="mono containers-image" title={r.image}>
                    {r.image}
                  </td>
                  <td>
                    <StateBadge state={r.state} />
                  </td>
                  <td>{r.status}</td>
                  <td>{r.created > 0 ? <Time at={r.created} /> : '—'}</td>
                  <td className="containers-actions">
                    <button
                      type="button"
                      className="btn btn-small"
                      disabled={busy !== null}
                      onClick={() => void openLogs(r)}
                      data-testid="container-logs"
                      aria-label={`Logs of ${r.name}`}
                    >
                      Logs
                    </button>
                    <button
                      type="button"
                      className="btn btn-small"
                      disabled={busy !== null}
                      onClick={() => void act('restart', r)}
                      data-testid="container-restart"
                      aria-label={`Restart ${r.name}`}
                    >
                      Restart
                    </button>
                    {r.state === 'running' ? (
                      <button
                        type="button"
                        className="btn btn-small"
                        disabled={busy !== null}
                        onClick={() => void act('stop', r)}
                        data-testid="container-stop"
                        aria-label={`Stop ${r.name}`}
                      >
                        Stop
                      </button>
                    ) : (
                      <button
                        type="button"
                        className="btn btn-small"
                        disabled={busy !== null}
                        onClick={() => void act('start', r)}
                        data-testid="container-start"
                        aria-label={`Start ${r.name}`}
                      >
                        Start
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {tail && <ContainerLogTail key={tail.runId} runId={tail.runId} container={tail.container} hostname={node.hostname} onClose={() => setTail(null)} />}
    </div>
  );
}

/**
 * The node page's containers: each operation is a run signed in this tab with the operator's
 * key (like `gpufleet containers`), targeted at this host by its hostname label.
 */
export function ContainersPanel({ node }: { node: NodeView }) {
  const signer = useSigner();
  const canOperate = useCan('operator');
  return (
    <section className="card section containers-panel" data-testid="containers-panel" aria-labelledby="containers-title">
      <h2 id="containers-title">Containers</h2>
      {signer && canOperate ? (
        <ContainerControls node={node} signer={signer} />
      ) : (
        <SignatureNeeded hostname={node.hostname} hasKey={signer !== null} canOperate={canOperate} />
      )}
    </section>
  );
}
