import type { ReactNode } from 'react';

/** A labelled form field with a hint and the field's own error under it. */
export function Field({
  id,
  label,
  hint,
  error,
  children,
  grow,
}: {
  id: string;
  label: string;
  hint?: string;
  error?: string | undefined;
  children: ReactNode;
  grow?: boolean;
}) {
  return (
    <div className={grow ? 'field grow' : 'field'}>
      <label htmlFor={id}>
        {label} {hint && <small>{hint}</small>}
      </label>
      {children}
      {error && (
        <span className="form-error" role="alert" data-testid={`${id}-error`}>
          {error}
        </span>
      )}
    </div>
  );
}
