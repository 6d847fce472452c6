import { useEffect, useId, useState } from 'react';
import { checkSelector } from '../lib/selector.js';

/**
 * A label selector input in the CLI's syntax. It checks as you type and hands a selector on only
 * when it parses (after a short pause), so the table never asks the server with a half-typed one.
 */
export function SelectorBox({ value, onChange, delayMs = 300 }: { value: string; onChange: (selector: string) => void; delayMs?: number }) {
  const [text, setText] = useState(value);
  const id = useId();
  const error = checkSelector(text);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (error !== null || text.trim() === value.trim()) return;
    const t = setTimeout(() => onChange(text.trim()), delayMs);
    return () => clearTimeout(t);
  }, [text, error, value, onChange, delayMs]);
  return (
    <div className="field grow">
      <label htmlFor={id}>
        Label selector <small>e.g. gpu.model=H100,zone in (a,b),!maintenance</small>
      </label>
      <input
        id={id}
        type="text"
        spellCheck={false}
        value={text}
        placeholder="key=value,key2!=v"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && error === null) onChange(text.trim());
        }}
        aria-invalid={error !== null}
        aria-describedby={error ? `${id}-err` : undefined}
        data-testid="nodes-selector"
      />
      {error && (
        <span id={`${id}-err`} className="form-error" role="alert" data-testid="nodes-selector-error">
          {error}
        </span>
      )}
    </div>
  );
}
