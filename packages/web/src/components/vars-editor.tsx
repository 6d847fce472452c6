import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useApi, useCan } from '../lib/auth.js';
import { parseVarsText, shellWord, varInput, varText, type VarsView } from '../lib/job-center.js';
import { Empty } from './states.js';
import { useConfirm } from './dialog.js';

/**
 * The variables of one scope (global or a group) as a table; operators set them from
 * `name=value` lines (values read as YAML scalars, like `gpufleet vars set`), change one by
 * loading it into the lines, and remove one. `invalidate` names the queries that show them.
 */
export function VarsEditor({
  scope,
  target,
  vars,
  invalidate,
  testid,
}: {
  scope: 'global' | 'group';
  target?: string;
  vars: Record<string, unknown>;
  invalidate: readonly unknown[][];
  testid: string;
}) {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const canEdit = useCan('operator');
  const [lines, setLines] = useState('');
  const [error, setError] = useState<string | null>(null);
  const put = useMutation({
    mutationFn: (body: { set?: Record<string, unknown>; remove?: string[] }) =>
      api.request<VarsView>('PUT', '/api/v1/vars', { scope, ...(target !== undefined ? { target } : {}), ...body }),
    onSuccess: () => {
      for (const key of invalidate) void qc.invalidateQueries({ queryKey: key });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseVarsText(lines);
    if (!parsed.ok) return setError(parsed.error);
    if (Object.keys(parsed.vars).length === 0) return setError('Write at least one name=value line');
    setError(null);
    put.mutate({ set: parsed.vars }, { onSuccess: () => setLines('') });
  };
  const remove = async (name: string) => {
    const ok = await confirm({
      title: `Remove ${name}?`,
      body: 'Hosts get the value from a lower layer again, if one sets it.',
      confirmLabel: 'Remove',
      danger: true,
    });
    if (ok !== null) put.mutate({ remove: [name] });
  };
  const names = Object.keys(vars).sort();
  return (
    <div data-testid={testid}>
      {names.length === 0 ? (
        <Empty>No variables set here.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Value</th>
                {canEdit && <th>Actions</th>}
              </tr>
            </thead>
            <tbody>
              {names.map((n) => (
                <tr key={n} data-testid="var-row" data-name={n}>
                  <td className="mono">{n}</td>
                  <td className="mono" data-testid="var-value">
                    {varText(vars[n])}
                  </td>
                  {canEdit && (
                    <td className="actions">
                      <button
                        type="button"
                        className="btn btn-small"
                        onClick={() => setLines((l) => `${l}${l && !l.endsWith('\n') ? '\n' : ''}${n}=${varInput(vars[n])}`)}
                        data-testid="var-edit"
                      >
                        Change
                      </button>
                      <button type="button" className="btn btn-small btn-danger" onClick={() => void remove(n)} data-testid="var-remove">
                        Remove
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {canEdit && (
        <form onSubmit={submit} className="section" aria-label={`Set ${scope} variables`}>
          <div className="field grow">
            <label htmlFor={`${testid}-lines`}>
              Set variables <small>name=value, one a line; 550 is a number, "550" a string, true a boolean</small>
            </label>
            <textarea
              id={`${testid}-lines`}
              rows={3}
              spellCheck={false}
              value={lines}
              onChange={(e) => setLines(e.target.value)}
              data-testid={`${testid}-lines`}
            />
          </div>
          {(error ?? put.error) && (
            <p className="form-error" role="alert" data-testid={`${testid}-error`}>
              {error ?? (put.error as Error).message}
            </p>
          )}
          <div className="actions">
            <button type="submit" className="btn btn-primary" disabled={put.isPending} data-testid={`${testid}-set`}>
              Set
            </button>
            <code className="muted" data-testid={`${testid}-cli`}>
              gpufleet vars set {scope === 'group' && target !== undefined ? `--group ${shellWord(target)} ` : ''}NAME=VALUE
            </code>
          </div>
        </form>
      )}
    </div>
  );
}
