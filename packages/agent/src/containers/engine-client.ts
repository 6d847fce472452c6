import { FleetError } from '@gpufleet/protocol';
import { detectContainerRuntime, runtimeSocketCandidates } from '../host/container-runtime.js';
import { engineExchange, openEngineCall, readBody, replyError, transportError, type EngineCall } from './engine-http.js';
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
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FleetError('tool_failure', `the container engine sent an unexpected ${what}`);
  return value as Record<string, unknown>;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' && !v.startsWith('0001-01-01') ? v : null);

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new FleetError('tool_failure', `the container engine sent a ${what} that is not JSON`);
  }
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

/**
 * A small client of the Docker Engine API (Podman's compatible API works the same) over the
 * engine's unix socket. Containers are named by id, unique id prefix or name; errors are
 * FleetErrors carrying the engine's message (an unknown container is `not_found`).
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
      const tried = runtimeSocketCandidates(this.env).map((c) => c.socket).join(', ');
      throw new FleetError('unavailable', `no container engine found on this host (looked for ${tried})`);
    }
    return found.socket;
  }

  /** Containers on the host; stopped ones too with `all`. */
  async list(opts: { all?: boolean; signal?: AbortSignal } = {}): Promise<ContainerSummary[]> {
    const body = await this.json({ method: 'GET', path: '/containers/json', query: { all: opts.all ?? false }, signal: opts.signal }, 'container list');
    if (!Array.isArray(body)) throw new FleetError('tool_failure', 'the container engine sent a container list that is not a list');
    return body.map(summaryOf);
  }

  /** Details of one container. */
  async inspect(ref: string, opts: { signal?: AbortSignal } = {}): Promise<ContainerDetails> {
    return detailsOf(await this.json({ method: 'GET', path: `/containers/${encodeURIComponent(containerRef(ref))}/json`, signal: opts.signal }, 'inspect reply'));
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
    const call: EngineCall = {
      method: 'GET',
      path: `/containers/${encodeURIComponent(details.id)}/logs`,
      query: {
        stdout: true,
        stderr: true,
        follow: opts.follow ?? false,
        tail: opts.tail ?? 'all',
        since: opts.sinceMs === undefined ? undefined : sinceParam(opts.sinceMs),
      },
      signal,
      // A followed container may stay quiet for hours; only a finite read has a deadline.
      idleTimeoutMs: opts.follow ? 0 : this.timeoutMs,
    };
    let res;
    try {
      res = await openEngineCall(socketPath, this.apiVersion, call);
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
    try {
      if ((res.statusCode ?? 0) >= 300) throw replyError({ status: res.statusCode ?? 0, text: await readBody(res, 1024 * 1024) });
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
    const reply = await engineExchange(this.socketPath, this.apiVersion, {
      method: 'POST',
      path: `/containers/${encodeURIComponent(containerRef(ref))}/${verb}`,
      query: { t: verb === 'start' ? undefined : stopTimeoutS },
      signal: opts.signal,
      // The engine answers only after the container has stopped, which may take the whole grace time.
      idleTimeoutMs: this.timeoutMs + stopTimeoutS * 1000,
    });
    // 304: the container already is in the asked state (Docker and Podman agree on this).
    if (reply.status === 304) return { changed: false };
    if (reply.status >= 200 && reply.status < 300) return { changed: true };
    throw replyError(reply);
  }

  private async json(call: Omit<EngineCall, 'idleTimeoutMs'>, what: string): Promise<unknown> {
    const reply = await engineExchange(this.socketPath, this.apiVersion, { ...call, idleTimeoutMs: this.timeoutMs });
    if (reply.status < 200 || reply.status >= 300) throw replyError(reply);
    return parseJson(reply.text, what);
  }
}
