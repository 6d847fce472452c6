import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunTargetView, RunView } from '../exec/run-types.js';

/** A request the fake saw. */
export interface SeenRunRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
}

/** One step of a scripted SSE stream: an event, a wait for a request (by `METHOD path`), or a cut. */
export type StreamStep = { event: string; data: unknown } | { waitFor: string } | { cut: true };

/**
 * A tiny control plane for the run commands' tests (the shared fake answers JSON only): JSON
 * routes by `METHOD /path`, and SSE routes that play a script of events, pausing until a
 * given request arrives (a cancel, say) or cutting the connection short.
 */
export class FakeRunApi {
  readonly requests: SeenRunRequest[] = [];
  readonly json = new Map<string, (req: SeenRunRequest) => { status?: number; body?: unknown }>();
  readonly streams = new Map<string, StreamStep[]>();
  /** Scripts served in turn to successive requests of one stream (the last one repeats); wins over `streams`. */
  readonly streamSequences = new Map<string, StreamStep[][]>();
  private readonly waiters: Array<{ key: string; resolve: () => void }> = [];
  private server: Server | null = null;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const text = Buffer.concat(chunks).toString('utf8');
    const seen: SeenRunRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: text ? JSON.parse(text) : undefined,
    };
    this.requests.push(seen);
    const key = `${seen.method} ${seen.path}`;
    for (const w of this.waiters.filter((x) => x.key === key)) w.resolve();
    const sequence = this.streamSequences.get(key);
    const script = sequence ? (sequence.length > 1 ? sequence.shift() : sequence[0]) : this.streams.get(key);
    if (script) return this.play(script, res);
    const route = this.json.get(key);
    const reply = route ? route(seen) : { status: 404, body: { error: { code: 'not_found', message: `no route ${key}` } } };
    if (reply.body === undefined) res.writeHead(reply.status ?? 200).end();
    else res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
  }

  private async play(script: StreamStep[], res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('retry: 2000\n\n: hello\n\n');
    for (const step of script) {
      if ('cut' in step) return void res.destroy();
      if ('waitFor' in step) {
        if (!this.requests.some((r) => `${r.method} ${r.path}` === step.waitFor))
          await new Promise<void>((resolve) => this.waiters.push({ key: step.waitFor, resolve }));
        continue;
      }
      // Split each event in two writes so the client has to join partial chunks.
      const text = `event: ${step.event}\ndata: ${JSON.stringify(step.data)}\n\n`;
      res.write(text.slice(0, 7));
      await new Promise((r) => setTimeout(r, 1));
      res.write(text.slice(7));
    }
    res.end();
  }
}

/** A target view with defaults. */
export function targetOf(n: number, over: Partial<RunTargetView> = {}): RunTargetView {
  return {
    nodeId: `did:key:z6MkHost${n}`,
    hostname: `gpu-node-${String(n).padStart(2, '0')}`,
    batch: 0,
    state: 'sent',
    exitCode: null,
    signal: null,
    reason: null,
    sentAt: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    outputBytes: 0,
    truncated: false,
    ...over,
  };
}

/** A run view with defaults. */
export function runOf(id: string, targets: RunTargetView[], over: Partial<RunView> = {}): RunView {
  const counts: Record<string, number> = {};
  for (const t of targets) counts[t.state] = (counts[t.state] ?? 0) + 1;
  return {
    id,
    state: 'running',
    createdBy: 'token:ops(t1)',
    invoker: 'did:key:z6MkOperatorAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    capabilityId: null,
    ability: 'exec/run',
    selector: 'pool=a',
    command: { kind: 'argv', summary: 'nvidia-smi -L', timeoutMs: 60_000, cwd: null, runAs: null, env: [], issuedAt: '2025-06-01T12:00:00.000Z' },
    batch: {},
    reason: null,
    canceledBy: null,
    createdAt: '2025-06-01T12:00:00.000Z',
    finishedAt: null,
    deadline: '2025-06-01T12:02:00.000Z',
    total: targets.length,
    counts,
    targets,
    ...over,
  };
}
