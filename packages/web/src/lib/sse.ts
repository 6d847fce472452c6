import { useEffect, useRef, useState, useSyncExternalStore } from 'react';

/** The state of one live stream as people see it. */
export type StreamStatus = 'connecting' | 'live' | 'reconnecting';

/** Every open stream's status, so the header can say whether the page is live. */
export class StreamRegistry {
  private readonly streams = new Map<number, StreamStatus>();
  private readonly listeners = new Set<() => void>();
  private next = 1;

  add(status: StreamStatus): number {
    const id = this.next++;
    this.streams.set(id, status);
    this.emit();
    return id;
  }
  set(id: number, status: StreamStatus): void {
    if (this.streams.get(id) === status) return;
    this.streams.set(id, status);
    this.emit();
  }
  remove(id: number): void {
    this.streams.delete(id);
    this.emit();
  }
  /** Live only when every stream is; reconnecting when any is down; connecting otherwise. */
  overall(): StreamStatus {
    const all = [...this.streams.values()];
    if (all.includes('reconnecting')) return 'reconnecting';
    if (all.includes('connecting')) return 'connecting';
    return 'live';
  }
  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };
  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}

export function useOverallStatus(registry: StreamRegistry): StreamStatus {
  return useSyncExternalStore(registry.subscribe, () => registry.overall());
}

/** Backoff before reconnect attempt `n` (0-based): 1 s, 2 s, 4 s ... capped at 15 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(15_000, 1000 * 2 ** Math.max(0, Math.min(attempt, 10)));
}

/**
 * Follows an SSE stream, calling `handlers[event](data)` with parsed JSON. The browser retries
 * dropped connections itself; when it gives up (a non-200 answer closes the EventSource) the
 * stream is reopened with backoff, so a restarted server is picked up without a reload.
 */
export function useEventStream(url: string | null, handlers: Record<string, (data: unknown) => void>, registry: StreamRegistry): StreamStatus {
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;

  useEffect(() => {
    if (url === null) return;
    const regId = registry.add('connecting');
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let attempt = 0;
    let stopped = false;
    const report = (s: StreamStatus) => {
      setStatus(s);
      registry.set(regId, s);
    };
    const open = () => {
      es = new EventSource(url);
      es.onopen = () => {
        attempt = 0;
        report('live');
      };
      es.onerror = () => {
        report('reconnecting');
        if (es && es.readyState === EventSource.CLOSED && !stopped) {
          es.close();
          timer = setTimeout(open, retryDelayMs(attempt++));
        }
      };
      for (const name of Object.keys(handlersRef.current)) {
        es.addEventListener(name, (ev) => {
          let data: unknown;
          try {
            data = JSON.parse((ev as MessageEvent<string>).data);
          } catch {
            return; // A garbled event is dropped; the periodic refetch repairs what it missed.
          }
          handlersRef.current[name]?.(data);
        });
      }
    };
    open();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      es?.close();
      registry.remove(regId);
    };
    // Handler names are fixed per call site; only the URL restarts the stream.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url, registry]);
  return status;
}
