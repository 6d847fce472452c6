import { useQuery } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { Link } from '../lib/router.js';
import { formatDuration } from '../lib/format.js';
import { playHostCounts, playIsOver, playPagePath, templatePagePath, type PlayView, type TemplateView } from '../lib/job-center.js';
import { Badge, Empty, QueryView, Time } from '../components/states.js';
import { CliHint } from '../components/cli-hint.js';

/** How often the plays list is read again while one is under way, and when none is. */
const PLAYS_ACTIVE_MS = 3_000;
const PLAYS_IDLE_MS = 15_000;
/** The newest plays the list shows. */
export const PLAYS_SHOWN = 50;

function TemplatesTable({ items, canRun }: { items: TemplateView[]; canRun: boolean }) {
  if (items.length === 0) return <Empty>No templates. The server ships built-in ones; an admin adds custom ones with gpufleet templates add.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Template</th>
            <th>Category</th>
            <th className="num">Version</th>
            <th>Become</th>
            <th>Description</th>
            {canRun && <th>Run</th>}
          </tr>
        </thead>
        <tbody>
          {[...items]
            .sort((a, b) => (a.category < b.category ? -1 : a.category > b.category ? 1 : a.name < b.name ? -1 : 1))
            .map((t) => (
              <tr key={t.name} data-testid="template-row" data-name={t.name}>
                <td>
                  <Link to={templatePagePath(t.name)} className="mono">
                    {t.name}
                  </Link>
                  {t.builtin && <span className="muted"> (built-in)</span>}
                </td>
                <td>{t.category}</td>
                <td className="num">{t.version}</td>
                <td>{t.become ? 'root' : 'no'}</td>
                <td>{t.description}</td>
                {canRun && (
                  <td>
                    <Link to={`/plays/new?template=${encodeURIComponent(t.name)}`} className="btn btn-small" data-testid="template-run">
                      Run…
                    </Link>
                  </td>
                )}
              </tr>
            ))}
        </tbody>
      </table>
    </div>
  );
}

/** A play's duration so far, or in all once it is over. */
function took(p: PlayView): string {
  if (!p.startedAt) return '—';
  const end = p.endedAt ? Date.parse(p.endedAt) : Date.now();
  return formatDuration(end - Date.parse(p.startedAt));
}

function PlaysTable({ items }: { items: PlayView[] }) {
  if (items.length === 0) return <Empty>No plays yet.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Play</th>
            <th>State</th>
            <th>Template</th>
            <th>Selector</th>
            <th className="num">Hosts ok/failed/all</th>
            <th>By</th>
            <th>Started</th>
            <th className="num">Took</th>
          </tr>
        </thead>
        <tbody>
          {items.map((p) => {
            const c = playHostCounts(p);
            return (
              <tr key={p.id} data-testid="play-row" data-id={p.id} data-state={p.state}>
                <td>
                  <Link to={playPagePath(p.id)} className="mono">
                    {p.id.slice(0, 12)}
                  </Link>
                  {p.check && <span className="muted"> (check)</span>}
                </td>
                <td>
                  <Badge value={p.state} />
                </td>
                <td className="mono">
                  {p.template} v{p.templateVersion}
                </td>
                <td className="mono">{p.selector}</td>
                <td className="num" data-testid="play-row-hosts">
                  {c.ok}/{c.failed}/{c.total}
                </td>
                <td>{p.createdBy}</td>
                <td>
                  <Time at={p.startedAt ?? p.createdAt} />
                </td>
                <td className="num">{took(p)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** The job center: playbook templates to run, and the plays run, newest first. */
export function PlaysPage() {
  const api = useApi();
  const canRun = useCan('operator');
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => api.get<{ items: TemplateView[] }>('/api/v1/templates') });
  const plays = useQuery({
    queryKey: ['plays'],
    queryFn: () => api.get<{ items: PlayView[] }>(`/api/v1/plays?limit=${PLAYS_SHOWN}`),
    refetchInterval: (query) => (query.state.data?.items.some((p) => !playIsOver(p.state)) ? PLAYS_ACTIVE_MS : PLAYS_IDLE_MS),
  });
  return (
    <>
      <div className="toolbar">
        <h1>Job center</h1>
        {canRun && (
          <Link to="/plays/new" className="btn btn-primary" data-testid="play-new">
            Run a playbook
          </Link>
        )}
      </div>
      <section className="section" aria-labelledby="plays-title">
        <h2 id="plays-title">Plays</h2>
        <QueryView q={plays} what="Loading plays">
          {(d) => <PlaysTable items={d.items} />}
        </QueryView>
      </section>
      <section className="section" aria-labelledby="templates-title">
        <h2 id="templates-title">Templates</h2>
        <QueryView q={templates} what="Loading templates">
          {(d) => <TemplatesTable items={d.items} canRun={canRun} />}
        </QueryView>
      </section>
      <CliHint command="gpufleet plays ls" />
    </>
  );
}
