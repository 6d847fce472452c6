import type { IncomingMessage } from 'node:http';
import Docker from 'dockerode';
import { FleetError } from '@gpufleet/protocol';
import { detectContainerRuntime, runtimeSocketCandidates } from '../host/container-runtime.js';
import { httpStatusOf, replyError, transportError } from './engine-errors.js';
import { createLogDecoder, LineSplitter, type LogLine } from './log-frames.js';

/** Options of an {@link EngineClient}; every field has a default. */
export interface EngineClientOptions {
  /** The engine's API socket. Default: the first of /run/docker.sock, /var/run/docker.sock,
   *  /run/podman/podman.sock, $XDG_RUNTIME_DIR/podman/podman.sock that exists. */
  socketPath?: string;
  /** API version prefix; v1.41 is spoken by Docker 20.10+ and Podman's compatible API. */
  apiVersion?: string;
  /** How long a call may wait on a silent engine (followed logs excepted). Default 30 s. */
  timeoutMs?: number;
  /** Environment for socket detection ($XDG_RUNTIME_DIR). Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/** A container as `containers ls` shows it. */
export interface ContainerSummary {
  id: string;
  /** The first name, without Docker's leading slash. */
  name: string;
  image: string;
  /** running, exited, created, paused, ... */
  state: string;
  /** The engine's human status, e.g. "Up 2 hours". */
  status: string;
  /** Creation time, epoch ms. */
  created: number;
}

/** What the client needs from `inspect`. */
export interface ContainerDetails {
  id: string;
  name: string;
  image: string;
  /** A TTY container's logs are one raw stream, not multiplexed frames. */
  tty: boolean;
  state: { status: string; running: boolean; startedAt: string | null; finishedAt: string | null; exitCode: number | null };
  created: string | null;
}

export interface LogsOptions {
  /** Keep the stream open and deliver new lines as they are written. */
  follow?: boolean;
  /** Only the last N lines (before following). Default: all. */
  tail?: number;
  /** Only lines written at or after this time (epoch ms). */
  sinceMs?: number;
  /** Ends the iteration quietly (no error) when aborted. */
  signal?: AbortSignal;
}

export interface ActionOptions {
  /** Seconds the engine waits for the container to stop before killing it (stop, restart). Default 10. */
  stopTimeoutS?: number;
  signal?: AbortSignal;
}

/** The result of start/stop/restart: `changed` is false when the container already was in that state. */
export interface ActionResult {
  changed: boolean;
}

const REF = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,253}$/;

/** Checks a container reference (id, id prefix or name) so it can only ever name one path segment. */
export function containerRef(ref: string): string {
  const bare = ref.startsWith('/') ? ref.slice(1) : ref;
  if (!REF.test(bare)) throw new FleetError('invalid_argument', `not a container id or name: ${JSON.stringify(ref.slice(0, 100))}`);
  return bare;
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new FleetError('tool_failure', `the container engine sent an unexpected ${what}`);
  return value as Record<string, unknown>;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' && !v.startsWith('0001-01-01') ? v : null);

/** dockerode hands a reply over parsed, or as bytes when it was not JSON. */
function parsedReply(body: unknown, what: string): unknown {
  if (Buffer.isBuffer(body) || typeof body === 'string') throw new FleetError('tool_failure', `the container engine sent a ${what} that is not JSON`);
  return body;
}

/** One entry of GET /containers/json. */
export function summaryOf(raw: unknown): ContainerSummary {
  const c = asRecord(raw, 'container list entry');
  const names = Array.isArray(c.Names) ? c.Names.filter((n): n is string => typeof n === 'string') : [];
  const created = typeof c.Created === 'number' && Number.isFinite(c.Created) ? c.Created * 1000 : 0;
  return { id: str(c.Id), name: (names[0] ?? '').replace(/^\//, ''), image: str(c.Image), state: str(c.State), status: str(c.Status), created };
}

/** The reply of GET /containers/{id}/json. */
export function detailsOf(raw: unknown): ContainerDetails {
  const c = asRecord(raw, 'inspect reply');
  if (typeof c.Id !== 'string' || c.Id === '') throw new FleetError('tool_failure', 'the container engine sent an inspect reply without an Id');
  const config = typeof c.Config === 'object' && c.Config !== null ? (c.Config as Record<string, unknown>) : {};
  const state = typeof c.State === 'object' && c.State !== null ? (c.State as Record<string, unknown>) : {};
  return {
    id: c.Id,
    name: str(c.Name).replace(/^\//, ''),
    image: str(config.Image) || str(c.Image),
    tty: config.Tty === true,
    state: {
      status: str(state.Status),
      running: state.Running === true,
      startedAt: strOrNull(state.StartedAt),
      finishedAt: strOrNull(state.FinishedAt),
      exitCode: typeof state.ExitCode === 'number' ? state.ExitCode : null,
    },
    created: strOrNull(c.Created),
  };
}

/** Docker's `since` is "seconds.nanoseconds" since the epoch. */
export function sinceParam(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new FleetError('invalid_argument', `not a log start time: ${ms}`);
  const whole = Math.floor(ms);
  return `${Math.floor(whole / 1000)}.${String((whole % 1000) * 1_000_000).padStart(9, '0')}`;
}

/** A deadline for one engine call, and the caller's signal, as one signal for dockerode. */
interface CallScope {
  signal: AbortSignal;
  /** The deadline passed: the call failed for that, not for the engine's answer. */
  readonly timedOut: boolean;
  /** Stops the deadline; the caller's signal still aborts (a followed log stream stays open). */
  stopDeadline(): void;
  /** Lets go of the caller's signal once the call is over. */
  dispose(): void;
}

function callScope(deadlineMs: number, outer: AbortSignal | undefined): CallScope {
  const controller = new AbortController();
  let timedOut = false;
  // Infinity: a call that waits as long as it must (a container's exit), ended only by the caller's signal.
  const timer = Number.isFinite(deadlineMs)
    ? setTimeout(() => {
        timedOut = true;
        controller.abort(new Error('deadline'));
      }, deadlineMs)
    : undefined;
  const onAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    stopDeadline: () => clearTimeout(timer),
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * A client of the Docker Engine API (Podman's compatible API works the same) over the engine's
 * unix socket, through dockerode. Containers are named by id, unique id prefix or name; errors
 * are FleetErrors carrying the engine's message (an unknown container is `not_found`). Log
 * streams are decoded by our bounded decoder (log-frames.ts): dockerode's demuxStream has no
 * limit on a frame's size or a line's length.
 */
export class EngineClient {
  private readonly explicitSocket: string | undefined;
  private readonly apiVersion: string;
  private readonly timeoutMs: number;
  private readonly env: NodeJS.ProcessEnv;

  constructor(opts: EngineClientOptions = {}) {
    this.explicitSocket = opts.socketPath;
    this.apiVersion = opts.apiVersion ?? 'v1.41';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.env = opts.env ?? process.env;
  }

  /** The socket this client talks to; detection happens per call so an engine started later is found. */
  get socketPath(): string {
    if (this.explicitSocket) return this.explicitSocket;
    const found = detectContainerRuntime('/', this.env);
    if (!found) {
      const tried = runtimeSocketCandidates(this.env)
        .map((c) => c.socket)
        .join(', ');
      throw new FleetError('unavailable', `no container engine found on this host (looked for ${tried})`);
    }
    return found.socket;
  }

  /** Containers on the host; stopped ones too with `all`. */
  async list(opts: { all?: boolean; signal?: AbortSignal } = {}): Promise<ContainerSummary[]> {
    const body = parsedReply(
      await this.call((d, abortSignal) => d.listContainers({ all: opts.all ?? false, abortSignal }), this.timeoutMs, opts.signal),
      'container list',
    );
    if (!Array.isArray(body)) throw new FleetError('tool_failure', 'the container engine sent a container list that is not a list');
    return body.map(summaryOf);
  }

  /** Details of one container. */
  async inspect(ref: string, opts: { signal?: AbortSignal } = {}): Promise<ContainerDetails> {
    const id = containerRef(ref);
    return detailsOf(
      parsedReply(await this.call((d, abortSignal) => d.getContainer(id).inspect({ abortSignal }), this.timeoutMs, opts.signal), 'inspect reply'),
    );
  }

  /**
   * The container's output, line by line. With `follow` it keeps delivering new lines until the
   * container stops or `signal` aborts; an abort ends the iteration without an error.
   */
  async *logs(ref: string, opts: LogsOptions = {}): AsyncGenerator<LogLine> {
    const { signal } = opts;
    if (opts.tail !== undefined && (!Number.isInteger(opts.tail) || opts.tail < 0)) throw new FleetError('invalid_argument', `not a line count: ${opts.tail}`);
    let details: ContainerDetails;
    try {
      details = await this.inspect(ref, { signal });
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
    const socketPath = this.socketPath;
    const query: Record<string, unknown> = { stdout: true, stderr: true, follow: opts.follow ?? false, tail: opts.tail ?? 'all' };
    if (opts.sinceMs !== undefined) query.since = sinceParam(opts.sinceMs);
    if (signal?.aborted) return;
    const scope = callScope(this.timeoutMs, signal);
    let res: IncomingMessage;
    try {
      const docker = new Docker({ socketPath, version: this.apiVersion });
      // Through the modem, not container.logs(): that one buffers a whole unfollowed log in memory.
      res = await new Promise<IncomingMessage>((resolve, reject) =>
        docker.modem.dial(
          {
            path: `/containers/${details.id}/logs?`,
            method: 'GET',
            options: query,
            abortSignal: scope.signal,
            isStream: true,
            statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          },
          (err: unknown, stream: unknown) => (err ? reject(err) : resolve(stream as IncomingMessage)),
        ),
      );
    } catch (err) {
      scope.dispose();
      if (signal?.aborted) return;
      throw this.failure(err, scope, socketPath, this.timeoutMs);
    }
    // Open: a followed container may stay quiet for hours; a finite read still fails on a silent engine.
    scope.stopDeadline();
    if (!opts.follow)
      res.setTimeout(this.timeoutMs, () =>
        res.destroy(new FleetError('unavailable', `the container engine on ${socketPath} stopped sending within ${Math.round(this.timeoutMs / 1000)}s`)),
      );
    try {
      // Docker 1.42+ names the framing in the content type; older engines and Podman rely on Config.Tty.
      const type = String(res.headers['content-type'] ?? '');
      const tty = type.includes('multiplexed-stream') ? false : type.includes('raw-stream') ? true : details.tty;
      const decoder = createLogDecoder(tty);
      const splitter = new LineSplitter();
      for await (const chunk of res) {
        for (const frame of decoder.push(chunk as Buffer)) yield* splitter.push(frame);
      }
      if (signal?.aborted) return;
      decoder.end();
      yield* splitter.flush();
    } catch (err) {
      if (signal?.aborted) return;
      throw err instanceof FleetError ? err : transportError(socketPath, err);
    } finally {
      // Also runs when the consumer stops early: the engine sees the connection close.
      res.destroy();
      scope.dispose();
    }
  }

  /** Restarts a container (stops it, waiting up to stopTimeoutS, then starts it). */
  async restart(ref: string, opts: ActionOptions = {}): Promise<ActionResult> {
    return this.action(ref, 'restart', opts);
  }

  /** Stops a container; `changed: false` when it was not running. */
  async stop(ref: string, opts: ActionOptions = {}): Promise<ActionResult> {
    return this.action(ref, 'stop', opts);
  }

  /** Starts a container; `changed: false` when it was running already. */
  async start(ref: string, opts: ActionOptions = {}): Promise<ActionResult> {
    return this.action(ref, 'start', opts);
  }

  private async action(ref: string, verb: 'restart' | 'stop' | 'start', opts: ActionOptions): Promise<ActionResult> {
    const stopTimeoutS = opts.stopTimeoutS ?? 10;
    if (!Number.isInteger(stopTimeoutS) || stopTimeoutS < 0) throw new FleetError('invalid_argument', `not a stop timeout in seconds: ${stopTimeoutS}`);
    const id = containerRef(ref);
    try {
      await this.call(
        (d, abortSignal) => {
          const c = d.getContainer(id);
          if (verb === 'start') return c.start({ abortSignal });
          return verb === 'stop' ? c.stop({ t: stopTimeoutS, abortSignal }) : c.restart({ t: stopTimeoutS, abortSignal });
        },
        // The engine answers only after the container has stopped, which may take the whole grace time.
        this.timeoutMs + stopTimeoutS * 1000,
        opts.signal,
      );
      return { changed: true };
    } catch (err) {
      // 304: the container already is in the asked state (Docker and Podman agree on this).
      if (err instanceof FleetError && (err.details as { engineStatus?: number } | undefined)?.engineStatus === 304) return { changed: false };
      throw err;
    }
  }

  /**
   * Any engine call, for what this client has no method for (workloads/container-executor.ts):
   * run gets a dockerode client and the signal to pass on. Errors are FleetErrors as for the
   * methods above. deadlineMs: default the client's timeout; Infinity for calls that wait on the
   * container (wait for its exit), which only the caller's signal ends.
   */
  async request<T>(run: (docker: Docker, abortSignal: AbortSignal) => Promise<T>, opts: { deadlineMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    return this.call(run, opts.deadlineMs ?? this.timeoutMs, opts.signal);
  }

  /**
   * One dockerode call on a fresh client (the socket is detected per call) under a deadline and
   * the caller's signal. An abort rejects with the signal's reason; everything else becomes a
   * FleetError: the engine's error reply, a deadline, or the socket failing.
   */
  private async call<T>(run: (docker: Docker, abortSignal: AbortSignal) => Promise<T>, deadlineMs: number, signal: AbortSignal | undefined): Promise<T> {
    if (signal?.aborted) throw signal.reason;
    const socketPath = this.socketPath;
    const scope = callScope(deadlineMs, signal);
    try {
      return await run(new Docker({ socketPath, version: this.apiVersion }), scope.signal);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw this.failure(err, scope, socketPath, deadlineMs);
    } finally {
      scope.dispose();
    }
  }

  private failure(err: unknown, scope: CallScope, socketPath: string, deadlineMs: number): FleetError {
    if (scope.timedOut) return new FleetError('unavailable', `the container engine on ${socketPath} did not answer within ${Math.round(deadlineMs / 1000)}s`);
    const http = httpStatusOf(err);
    if (http) return replyError(http.status, http.body);
    return err instanceof FleetError ? err : transportError(socketPath, err);
  }
}
