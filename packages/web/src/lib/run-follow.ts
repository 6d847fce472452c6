import type { RunOutputView, RunView } from '@gpufleet/protocol';
import { ApiError, type ApiClient } from './api.js';

const runPath = (runId: string) => `/api/v1/runs/${encodeURIComponent(runId)}`;

/** How often the state of a run is polled when its live stream cannot be had. */
const POLL_MS = 1000;

/**
 * Resolves with the run (every target included) once it is over: when its SSE stream says
 * `done`, or, when the stream is refused or lost, by polling the run. `signal` stops waiting.
 */
export function waitForRun(api: ApiClient, runId: string, signal?: AbortSignal): Promise<RunView> {
  return new Promise<RunView>((resolve, reject) => {
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let over = false;
    const stop = () => {
      over = true;
      es?.close();
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown) => {
      if (over) return;
      stop();
      reject(err);
    };
    const finish = () => {
      if (over) return;
      stop();
      api.get<RunView>(runPath(runId)).then(resolve, reject);
    };
    const poll = () => {
      if (over) return;
      api.get<RunView>(runPath(runId)).then((view) => {
        if (over) return;
        if (view.state !== 'running') {
          stop();
          resolve(view);
        } else timer = setTimeout(poll, POLL_MS);
      }, fail);
    };
    function onAbort() {
      fail(signal?.reason ?? new Error('stopped waiting for the run'));
    }
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);

    es = new EventSource(api.streamUrl(`${runPath(runId)}/stream`));
    es.addEventListener('done', finish);
    es.addEventListener('error', (ev) => {
      const data = (ev as MessageEvent<unknown>).data;
      if (typeof data === 'string') {
        // The server's own `error` event: following failed on its side.
        let message = 'the server could not follow the run';
        try {
          message = (JSON.parse(data) as { message?: string }).message ?? message;
        } catch {
          // Not JSON: the generic message says enough.
        }
        return fail(new Error(message));
      }
      // A refused or dropped stream the browser will not retry: poll instead.
      if (es && es.readyState === EventSource.CLOSED && timer === null) {
        es.close();
        poll();
      }
    });
  });
}

/** Every stored output piece of a run, in arrival order (paged through). */
export async function readRunOutput(api: ApiClient, runId: string): Promise<RunOutputView[]> {
  const items: RunOutputView[] = [];
  for (let after = 0; ; ) {
    const page = await api.get<{ items: RunOutputView[]; next: number | null }>(`${runPath(runId)}/output?after=${after}&limit=10000`);
    items.push(...page.items);
    if (page.next === null || page.items.length === 0) return items;
    after = page.next;
  }
}

/**
 * Cancels a run; a run already over is not an error (there is nothing left to stop). With
 * `keepalive` the request is still sent when the tab is closing.
 */
export async function cancelRun(api: ApiClient, runId: string, opts: { keepalive?: boolean } = {}): Promise<void> {
  try {
    await api.request('POST', `${runPath(runId)}/cancel`, {}, opts);
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) return;
    throw err;
  }
}
