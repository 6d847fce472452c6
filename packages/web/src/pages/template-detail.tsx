import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { ApiError } from '../lib/api.js';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { formatDuration } from '../lib/format.js';
import { shellWord, templateApiPath, varText, type TemplateDetailView } from '../lib/job-center.js';
import { Empty, ErrorBox, Loading, Time } from '../components/states.js';
import { CliHint } from '../components/cli-hint.js';
import '../components/job-center.css';

/** One template: what it is, its default variables and its playbook (read only), any of its versions. */
export function TemplateDetailPage({ name }: { name: string }) {
  const api = useApi();
  const canRun = useCan('operator');
  const [version, setVersion] = useState<number | null>(null);
  const q = useQuery({
    queryKey: ['template', name, version],
    queryFn: () => api.get<TemplateDetailView>(`${templateApiPath(name)}${version === null ? '' : `?version=${version}`}`),
  });
  if (q.isPending) return <Loading what="Loading template" />;
  if (q.error instanceof ApiError && q.error.status === 404)
    return (
      <Empty>
        No template named <span className="mono">{name}</span>. <Link to="/plays">Job center</Link>
      </Empty>
    );
  if (!q.data) return <ErrorBox error={q.error ?? 'not found'} retry={() => void q.refetch()} />;
  const t = q.data;
  const vars = Object.keys(t.vars).sort();
  return (
    <>
      <div className="toolbar">
        <h1 data-testid="template-title">
          Template <span className="mono">{t.name}</span>
        </h1>
        {canRun && (
          <Link to={`/plays/new?template=${encodeURIComponent(t.name)}`} className="btn btn-primary" data-testid="template-run">
            Run…
          </Link>
        )}
      </div>
      <section className="card section" aria-labelledby="template-about">
        <h2 id="template-about">About</h2>
        <dl className="kv">
          <dt>Description</dt>
          <dd>{t.description || '—'}</dd>
          <dt>Category</dt>
          <dd>{t.category}</dd>
          <dt>Version</dt>
          <dd>
            {t.versions.length > 1 ? (
              <select aria-label="Version" value={t.version} onChange={(e) => setVersion(Number(e.target.value))} data-testid="template-version">
                {t.versions.map((v) => (
                  <option key={v} value={v}>
                    {v}
                  </option>
                ))}
              </select>
            ) : (
              t.version
            )}{' '}
            {t.builtin ? '(built-in)' : `by ${t.createdBy}`}, <Time at={t.createdAt} />
          </dd>
          <dt>Become</dt>
          <dd>{t.become ? 'yes: tasks run as root (sudo)' : 'no'}</dd>
          <dt>Timeout</dt>
          <dd>{formatDuration(t.timeoutMs)}</dd>
          <dt>SHA-256</dt>
          <dd className="mono">{t.sha256}</dd>
          <dt>Default variables</dt>
          <dd className="mono" data-testid="template-vars">
            {vars.length === 0 ? '—' : vars.map((k) => `${k}=${varText(t.vars[k])}`).join(' ')}
          </dd>
        </dl>
      </section>
      <section className="card section" aria-labelledby="template-playbook">
        <h2 id="template-playbook">Playbook</h2>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take the focus to scroll by keyboard */}
        <section className="jc-log" aria-label="Playbook text" tabIndex={0}>
          <pre data-testid="template-playbook">{t.playbook}</pre>
        </section>
      </section>
      <CliHint command={`gpufleet templates show ${shellWord(t.name)}`} />
    </>
  );
}
