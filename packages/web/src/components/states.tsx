import { useEffect, useState, type ReactNode } from 'react';
import { formatAbsolute, formatRelative } from '../lib/format.js';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const msg = error instanceof Error ? error.message : String(error);
  return (
    <div className="state state-error" role="alert">
      <strong>Something went wrong.</strong> {msg}
      {retry && (
        <button type="button" className="btn btn-small" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  );
}

/** A ticking clock so relative times stay true without refetching (one tick per 10 s). */
export function useNow(periodMs = 10_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(t);
  }, [periodMs]);
  return now;
}

/** A relative time with the absolute one on hover. */
export function Time({ at }: { at: string | number | null | undefined }) {
  const now = useNow();
  if (at === null || at === undefined) return <span>—</span>;
  const iso = typeof at === 'number' ? new Date(at).toISOString() : at;
  return (
    <time dateTime={iso} title={formatAbsolute(at)}>
      {formatRelative(at, now)}
    </time>
  );
}

/** A coloured word for a status or verdict; the word itself carries the meaning (not colour alone). */
export function Badge({ value, testid }: { value: string; testid?: string }) {
  return (
    <span className={`badge badge-${value.toLowerCase().replace(/[^a-z_]/g, '')}`} data-testid={testid}>
      {value}
    </span>
  );
}

/** The query states in one place: loading, error with retry, or the content. */
export function QueryView<T>({
  q,
  children,
  what,
}: {
  q: { isPending: boolean; error: unknown; data: T | undefined; refetch: () => unknown };
  children: (data: T) => ReactNode;
  what?: string;
}) {
  if (q.isPending) return <Loading what={what} />;
  if (q.error || q.data === undefined) return <ErrorBox error={q.error ?? 'no data'} retry={() => void q.refetch()} />;
  return <>{children(q.data)}</>;
}
