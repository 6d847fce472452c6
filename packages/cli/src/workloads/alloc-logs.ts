import { seg, type ApiClient, type Connection } from '../api-client.js';
import { CliError } from '../errors.js';
import { openEventStream, type SseEvent, type SseStream } from '../exec/sse-client.js';
import type { CliIo } from '../io.js';
import { termSafeOutput } from '../output.js';

/** One piece of an allocation's output as the API stores it. */
export interface AllocLogItem {
  /** Increasing: a reader asks for what came after the last one it saw. */
  id: number;
  stream: 'stdout' | 'stderr';
  chunk: number;
  data: string;
  at: string | number;
}

const PAGE = 5000;

/** Every stored piece of an allocation's output after `after`, page by page. */
export async function readAllocLogs(client: ApiClient, allocId: string, after = 0): Promise<AllocLogItem[]> {
  const items: AllocLogItem[] = [];
  for (let cursor = after; ; ) {
    const page = await client.get<{ items: AllocLogItem[] }>(`/api/v1/allocations/${seg(allocId)}/logs`, { after: cursor, limit: PAGE });
    items.push(...page.items);
    const last = page.items.at(-1);
    // A short page is the end; so is a page that does not move the cursor (a server that ignores `after`).
    if (page.items.length < PAGE || !last || last.id <= cursor) return items;
    cursor = last.id;
  }
}

/**
 * The last `n` lines of the output, each with its stream: pieces are joined into lines per
 * stream (a line may arrive in several pieces), and lines of both streams keep their order.
 */
export function lastLines(items: readonly AllocLogItem[], n: number): Array<{ stream: 'stdout' | 'stderr'; text: string }> {
  const lines: Array<{ stream: 'stdout' | 'stderr'; text: string }> = [];
  const open = new Map<string, { stream: 'stdout' | 'stderr'; text: string }>();
  for (const item of items) {
    for (const piece of item.data.split(/(?<=\n)/)) {
      if (piece === '') continue;
      const line = open.get(item.stream);
      if (line) line.text += piece;
      else lines.push({ stream: item.stream, text: piece });
      const current = line ?? lines.at(-1)!;
      if (piece.endsWith('\n')) open.delete(item.stream);
      else open.set(item.stream, current);
    }
  }
  return n <= 0 ? [] : lines.slice(-n);
}

/** Writes output to stdout or stderr as it was written; on a terminal, controls are escaped (colors pass). */
export function writeOutput(io: CliIo, stream: 'stdout' | 'stderr', text: string): void {
  if (stream === 'stderr') io.err(termSafeOutput(text, io.stderrIsTty ?? io.stdoutIsTty));
  else io.out(termSafeOutput(text, io.stdoutIsTty));
}

export interface LogFollowing {
  /** Resolves when the allocation ended ('end' event), or following was stopped. */
  result: Promise<'ended' | 'detached'>;
  detach(): void;
}

const RECONNECT_DELAYS_MS = [250, 500, 1000];

/**
 * Follows an allocation's live output over its SSE stream from after `afterId`, printing each
 * piece once (a reconnect after a cut stream asks for what came after the last piece printed),
 * until the server says the allocation ended or `detach()`.
 */
export function followAllocLogs(conn: Connection, io: CliIo, allocId: string, afterId: number): LogFollowing {
  let last = afterId;
  let ended = false;
  let detached = false;
  let failure: Error | null = null;
  let stream: SseStream | null = null;

  const onEvent = (e: SseEvent) => {
    if (e.event === 'end') {
      ended = true;
      stream?.close();
      return;
    }
    if (e.event !== 'output') return;
    let item: AllocLogItem;
    try {
      item = JSON.parse(e.data) as AllocLogItem;
    } catch {
      failure = new CliError("the control plane sent an 'output' event that is not JSON");
      stream?.close();
      return;
    }
    if (typeof item.id !== 'number' || item.id <= last) return;
    last = item.id;
    if (typeof item.data === 'string') writeOutput(io, item.stream === 'stderr' ? 'stderr' : 'stdout', item.data);
  };

  const result = (async (): Promise<'ended' | 'detached'> => {
    for (let attempt = 0; ; attempt++) {
      stream = await openEventStream(conn, `/api/v1/allocations/${seg(allocId)}/logs/stream?after=${last}`, onEvent);
      if (detached) stream.close();
      await stream.ended;
      if (failure) throw failure;
      if (detached) return 'detached';
      if (ended) return 'ended';
      if (attempt >= RECONNECT_DELAYS_MS.length) throw new CliError(`the live output of allocation ${allocId} ended early, ${attempt} reconnects did not help`);
      io.err(`the live output of allocation ${allocId} ended early; reconnecting\n`);
      await new Promise((r) => setTimeout(r, RECONNECT_DELAYS_MS[attempt]));
    }
  })();

  return {
    result,
    detach() {
      detached = true;
      stream?.close();
    },
  };
}
