import type { PlayEventView, PlayHostStats, PlayView } from '@gpufleet/protocol';
import { seg, type ApiClient, type Connection } from '../api-client.js';
import { CliError } from '../errors.js';
import { openEventStream, type SseEvent, type SseStream } from '../exec/sse-client.js';
import type { CliIo } from '../io.js';
import { termSafe } from '../output.js';
import { eventLine } from '../views/play-views.js';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);
/** Pauses before each reconnect of a stream that ended early. */
const RECONNECT_DELAYS_MS = [200, 1000, 3000];

export interface PlayFollowDeps {
  io: CliIo;
  conn: Connection;
  client: ApiClient;
}

export interface PlayFollowing {
  result: Promise<PlayView>;
  /** Stops following; the play goes on. */
  detach(): void;
}

/** What each host is doing, from the log, for the progress line on stderr. */
class HostProgress {
  private readonly states = new Map<string, string>();

  constructor(hosts: PlayHostStats[]) {
    for (const h of hosts) this.states.set(h.hostname, h.state);
  }

  see(e: PlayEventView): void {
    if (e.host === null) return;
    const now = this.states.get(e.host);
    if (e.kind === 'recap') {
      const failed = /failed=[1-9]/.test(e.message);
      const unreachable = /unreachable=[1-9]/.test(e.message);
      this.states.set(e.host, unreachable ? 'unreachable' : failed ? 'failed' : 'ok');
    } else if (e.status === 'failed' || e.status === 'unreachable') this.states.set(e.host, e.status);
    else if (now === 'pending' || now === undefined) this.states.set(e.host, 'running');
  }

  line(): string {
    return `hosts: ${[...this.states].map(([h, s]) => `${termSafe(h)} ${s}`).join(', ')}\n`;
  }
}

/**
 * Follows a play's log over SSE, printing each event (lines, or one JSON object a line with
 * `json`), a per-host progress line on stderr before each task, and resolves with the play once
 * it ended. A stream that ends early is reopened after the last seq printed (nothing twice,
 * nothing lost); after three tries it polls the REST API instead.
 */
export function followPlay(d: PlayFollowDeps, id: string, o: { json: boolean; hosts: PlayHostStats[]; progress: boolean }): PlayFollowing {
  let last = 0;
  let ended: PlayView | null = null;
  let failure: Error | null = null;
  let detached = false;
  let stream: SseStream | null = null;
  const progress = new HostProgress(o.hosts);

  const show = (e: PlayEventView) => {
    if (e.seq <= last) return;
    last = e.seq;
    progress.see(e);
    if (o.progress && e.kind === 'task') d.io.err(progress.line());
    d.io.out(o.json ? `${JSON.stringify(e)}\n` : eventLine(e));
  };

  const onEvent = (e: SseEvent) => {
    try {
      if (e.event === 'event') show(JSON.parse(e.data) as PlayEventView);
      else if (e.event === 'end') {
        ended = JSON.parse(e.data) as PlayView;
        stream?.close();
      } else if (e.event === 'error') {
        failure = new CliError(`following play ${id} failed: ${(JSON.parse(e.data) as { message?: string }).message ?? 'unknown error'}`);
        stream?.close();
      }
    } catch (err) {
      failure = err as Error;
      stream?.close();
    }
  };

  const settled = () => ended !== null || failure !== null || detached;

  const result = (async (): Promise<PlayView> => {
    for (let attempt = 0; ; attempt++) {
      stream = await openEventStream(d.conn, `/api/v1/plays/${seg(id)}/stream?after=${last}`, onEvent);
      if (settled()) stream.close();
      await stream.ended;
      if (settled() || attempt >= RECONNECT_DELAYS_MS.length) break;
      d.io.err(`the live stream of play ${id} ended early; reconnecting\n`);
      await new Promise((r) => setTimeout(r, RECONNECT_DELAYS_MS[attempt]));
    }
    if (failure) throw failure;
    if (detached) throw new CliError(`stopped following play ${id}; it goes on without you: \`gpufleet plays get ${id}\``, { exitCode: 130 });
    if (ended === null) {
      d.io.err(`the live stream of play ${id} ended early; polling until it ends\n`);
      for (;;) {
        const page = await d.client.get<{ items: PlayEventView[]; next: number }>(`/api/v1/plays/${seg(id)}/events`, { after: last, limit: 1000 });
        for (const e of page.items) show(e);
        const view = await d.client.get<PlayView>(`/api/v1/plays/${seg(id)}`);
        if (TERMINAL.has(view.state) && page.items.length === 0) return view;
        if (detached) throw new CliError(`stopped following play ${id}; it goes on without you: \`gpufleet plays get ${id}\``, { exitCode: 130 });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    return ended;
  })();

  return {
    result,
    detach() {
      detached = true;
      stream?.close();
    },
  };
}
