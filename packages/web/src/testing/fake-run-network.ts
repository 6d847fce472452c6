import { didKeyFromEd25519, type CommandPayload, type RunTargetView, type RunView, type SignedCommand } from '@gpufleet/protocol';
import { createBrowserSigner, type RevocableSigner } from '../lib/signing/browser-signer.js';
import { FakeApi, fakeError, type FakeReply } from './fake-api.js';

/**
 * The network of the dashboard as component tests see it: `fetch` answered by a small in-memory
 * runs API, and `EventSource` replaced by streams the test drives. Runs are scripted per
 * operation: a short one (ls, restart) finishes as soon as its stream opens; a live tail waits
 * for the test to send its lines.
 */

export interface RunScript {
  /** Final state of each target. */
  targets: Array<Partial<RunTargetView> & { state: RunTargetView['state'] }>;
  /** Output the host wrote: stdout text and stderr text, stored as one chunk each. */
  stdout?: string;
  stderr?: string;
  /** Finish when the stream opens (default), or wait for the test (a live tail). */
  manual?: boolean;
}

/** The node the panel is shown for. */
export const NODE_ID = 'did:key:z6MkNodeSeven';
export const HOSTNAME = 'gpu-node-07';

export class FakeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = FakeEventSource.CONNECTING;
  onopen: ((e: Event) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  private readonly listeners = new Map<string, Set<(e: Event) => void>>();

  constructor(
    readonly url: string,
    private readonly net: FakeRunNetwork,
  ) {
    net.streams.push(this);
    queueMicrotask(() => {
      if (this.readyState === FakeEventSource.CLOSED) return;
      this.readyState = FakeEventSource.OPEN;
      this.onopen?.(new Event('open'));
      net.opened(this);
    });
  }

  addEventListener(type: string, fn: (e: Event) => void): void {
    const set = this.listeners.get(type) ?? new Set();
    set.add(fn);
    this.listeners.set(type, set);
  }

  removeEventListener(type: string, fn: (e: Event) => void): void {
    this.listeners.get(type)?.delete(fn);
  }

  /** Sends one server event with JSON data. */
  emit(type: string, data: unknown): void {
    if (this.readyState === FakeEventSource.CLOSED) return;
    const ev = new MessageEvent(type, { data: JSON.stringify(data) });
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn(ev);
  }

  close(): void {
    this.readyState = FakeEventSource.CLOSED;
  }

  /** The connection fails for good (as after a non-200 answer): closed, then a plain `error` event. */
  fail(): void {
    this.readyState = FakeEventSource.CLOSED;
    const ev = new Event('error');
    this.onerror?.(ev);
    for (const fn of [...(this.listeners.get('error') ?? [])]) fn(ev);
  }

  get closed(): boolean {
    return this.readyState === FakeEventSource.CLOSED;
  }
}

interface LiveRun {
  payload: CommandPayload;
  script: RunScript;
  finished: boolean;
  canceled: boolean;
}

export class FakeRunNetwork {
  readonly streams: FakeEventSource[] = [];
  readonly runs = new Map<string, LiveRun>();
  /** Decides how each submitted run goes; by default every host succeeds with no output. */
  script: (payload: CommandPayload) => RunScript = () => ({ targets: [{ state: 'succeeded', exitCode: 0 }] });

  /** The runs API (POST /runs, GET /runs/:id, /output, /cancel) over the scripted runs. */
  readonly api = new FakeApi()
    .on('POST', '/api/v1/runs', (call) => {
      const payload = (call.body as { command: SignedCommand }).command.payload;
      this.runs.set(payload.runId, { payload, script: this.script(payload), finished: false, canceled: false });
      return { status: 201, body: { id: payload.runId, state: 'running', targets: [{ nodeId: NODE_ID, hostname: HOSTNAME, batch: 0, state: 'sent' }] } };
    })
    .on('GET', '/api/v1/runs/:id', (_call, { id }) => this.withRun(id!, (r) => ({ status: 200, body: this.view(r) })))
    .on('GET', '/api/v1/runs/:id/output', (_call, { id }) => this.withRun(id!, (r) => ({ status: 200, body: { items: this.output(r), next: null } })))
    .on('POST', '/api/v1/runs/:id/cancel', (_call, { id }) =>
      this.withRun(id!, (r) => {
        if (r.finished) return fakeError(409, 'conflict', `run '${id}' already finished`);
        r.canceled = true;
        return { status: 200, body: this.view(r) };
      }),
    );

  /** The fetch to install with vi.stubGlobal. */
  get fetch(): FakeApi['fetch'] {
    return this.api.fetch;
  }

  private withRun(id: string, reply: (r: LiveRun) => FakeReply): FakeReply {
    const r = this.runs.get(id);
    return r ? reply(r) : fakeError(404, 'not_found', `no run '${id}'`);
  }

  /** The EventSource class to install with vi.stubGlobal. */
  get EventSource(): typeof FakeEventSource {
    const net = this;
    return class extends FakeEventSource {
      constructor(url: string) {
        super(url, net);
      }
    };
  }

  /** A stream just opened: replay its run like the server does, and finish a short run. */
  opened(es: FakeEventSource): void {
    const m = /^\/api\/v1\/runs\/([^/]+)\/stream/.exec(new URL(es.url, 'http://dashboard.test').pathname);
    const r = m ? this.runs.get(decodeURIComponent(m[1]!)) : undefined;
    if (!r) return;
    es.emit('run', this.view(r, { running: !r.finished }));
    for (const piece of this.output(r)) es.emit('output', piece);
    if (!r.script.manual || r.finished) {
      r.finished = true;
      es.emit('done', this.view(r));
    }
  }

  /** Ends a manual run with its script's final states (as after a cancel or the container stopping). */
  finish(runId: string): void {
    const r = this.runs.get(runId)!;
    r.finished = true;
    for (const es of this.streams.filter((s) => s.url.includes(`/runs/${encodeURIComponent(runId)}/stream`))) {
      for (const t of this.view(r).targets!) es.emit('target', t);
      es.emit('done', { ...this.view(r), targets: undefined });
    }
  }

  /** The signed commands submitted, in order. */
  signedCommands(): SignedCommand[] {
    return this.api
      .callsTo('POST', '/api/v1/runs')
      .filter((c) => c.path === '/api/v1/runs')
      .map((c) => (c.body as { command: SignedCommand }).command);
  }

  /** Their payloads (the test checks signatures itself). */
  submitted(): CommandPayload[] {
    return this.signedCommands().map((c) => c.payload);
  }

  /** Ids of the runs a cancel was asked for, in order. */
  cancels(): string[] {
    return this.api
      .callsTo('POST', '/api/v1/runs/')
      .filter((c) => c.path.endsWith('/cancel'))
      .map((c) => decodeURIComponent(c.path.split('/')[4]!));
  }

  /** Forgets the calls seen so far. */
  clearCalls(): void {
    this.api.calls.length = 0;
  }

  /** The open stream of a run. */
  streamOf(runId: string): FakeEventSource | undefined {
    return this.streams.filter((s) => !s.closed && s.url.includes(`/runs/${encodeURIComponent(runId)}/stream`)).pop();
  }

  private output(r: LiveRun) {
    const items: Array<{ id: number; nodeId: string; stream: string; chunk: number; data: string; at: string }> = [];
    if (r.script.stdout) items.push({ id: 1, nodeId: NODE_ID, stream: 'stdout', chunk: 0, data: r.script.stdout, at: new Date().toISOString() });
    if (r.script.stderr) items.push({ id: 2, nodeId: NODE_ID, stream: 'stderr', chunk: 0, data: r.script.stderr, at: new Date().toISOString() });
    return items;
  }

  private view(r: LiveRun, o: { running?: boolean } = {}): RunView {
    const running = o.running ?? !r.finished;
    const targets: RunTargetView[] = r.script.targets.map((t) => ({
      nodeId: NODE_ID,
      hostname: HOSTNAME,
      batch: 0,
      exitCode: null,
      signal: null,
      reason: null,
      sentAt: null,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      outputBytes: 0,
      truncated: false,
      ...t,
      state: running ? 'running' : r.canceled && t.state === 'succeeded' ? 'canceled' : t.state,
    }));
    const p = r.payload;
    return {
      id: p.runId,
      state: running ? 'running' : targets.every((t) => t.state === 'succeeded') ? 'succeeded' : r.canceled ? 'canceled' : 'failed',
      createdBy: 'token:ops',
      invoker: p.invoker,
      capabilityId: null,
      ability: p.ability,
      selector: p.target,
      command: {
        kind: p.command.kind,
        summary: 'container',
        timeoutMs: p.timeoutMs,
        cwd: null,
        runAs: null,
        env: [],
        issuedAt: new Date(p.issuedAt).toISOString(),
      },
      batch: null,
      reason: r.canceled ? 'canceled by token:ops' : null,
      canceledBy: r.canceled ? 'token:ops' : null,
      createdAt: new Date(p.issuedAt).toISOString(),
      finishedAt: running ? null : new Date().toISOString(),
      deadline: new Date(p.issuedAt + p.timeoutMs).toISOString(),
      total: targets.length,
      counts: {},
      targets,
    };
  }
}

/**
 * The dashboard's own signer (createBrowserSigner) over a real Ed25519 key made with WebCrypto,
 * as an unlocked key file gives it; `sign` replaces its signing to make it fail.
 */
export async function testSigner(o: { sign?: () => Promise<SignedCommand> } = {}): Promise<RevocableSigner> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const revocable = createBrowserSigner({ name: 'ops-laptop', did: didKeyFromEd25519(publicKey), privateKey: pair.privateKey, publicKey }, null);
  return o.sign ? { ...revocable, signer: { ...revocable.signer, sign: o.sign } } : revocable;
}
