import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { checkSelector } from '../lib/selector.js';
import type { RunView } from '../lib/types.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { CopyButton } from './tokens.js';

/** Single-quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_./:=,@%+-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `gpufleet exec` command an operator signs and runs: commands are signed by the operator's
 * own key on their machine, never by the browser or the server.
 */
export function execCommand(selector: string, command: string, timeout: string): string {
  const parts = ['gpufleet', 'exec', '-l', shellQuote(selector.trim() || '*')];
  if (timeout.trim()) parts.push('--timeout', shellQuote(timeout.trim()));
  parts.push('--sh', shellQuote(command));
  return parts.join(' ');
}

function NewRun() {
  const [selector, setSelector] = useState('');
  const [command, setCommand] = useState('nvidia-smi -L');
  const [timeout, setTimeoutText] = useState('60s');
  const err = checkSelector(selector);
  const text = execCommand(selector, command, timeout);
  return (
    <section className="card section">
      <h2>Start a run</h2>
      <p className="muted">Runs are signed with your operator key, so they start from your terminal. Fill in the form and run the command it writes.</p>
      <div className="toolbar">
        <div className="field grow"><label htmlFor="nr-sel">Hosts (label selector)</label><input id="nr-sel" value={selector} onChange={(e) => setSelector(e.target.value)} aria-invalid={err !== null} placeholder="gpu.model=H100" />{err && <span className="form-error">{err}</span>}</div>
        <div className="field grow"><label htmlFor="nr-cmd">Shell command</label><input id="nr-cmd" value={command} onChange={(e) => setCommand(e.target.value)} /></div>
        <div className="field"><label htmlFor="nr-to">Timeout</label><input id="nr-to" value={timeout} onChange={(e) => setTimeoutText(e.target.value)} size={6} /></div>
      </div>
      <div className="copy-box">
        <code data-testid="runs-exec-command">{text}</code>
        <CopyButton text={text} />
      </div>
    </section>
  );
}

/** Run history, newest first, with counts per target state. */
export function RunsPage() {
  const api = useApi();
  const canRun = useCan('operator');
  const q = useQuery({ queryKey: ['runs'], queryFn: () => api.get<{ items: RunView[] }>('/api/v1/runs?limit=100'), refetchInterval: 5_000 });
  return (
    <>
      <h1>Runs</h1>
      {canRun && <NewRun />}
      <QueryView q={q}>
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No runs yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead><tr><th>Run</th><th>State</th><th>Command</th><th>Hosts</th><th>Results</th><th>By</th><th>Started</th></tr></thead>
                <tbody>
                  {d.items.map((r) => (
                    <tr key={r.id} data-testid="runs-row" data-id={r.id} data-state={r.state}>
                      <td><Link to={`/runs/${encodeURIComponent(r.id)}`} className="mono">{r.id.slice(0, 12)}</Link></td>
                      <td><Badge value={r.state} /></td>
                      <td className="mono wrap">{r.command.summary}</td>
                      <td className="mono">{r.selector} ({r.total})</td>
                      <td>{Object.entries(r.counts).map(([s, n]) => <span key={s} className="count"><Badge value={s} /> {n} </span>)}</td>
                      <td>{r.createdBy}</td>
                      <td><Time at={r.createdAt} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
    </>
  );
}
