import WebSocket from 'ws';
import {
  CLOSE_CODES,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  ServerFrame,
  challengeMessage,
  signEd25519,
  type AgentFrame,
  type MetricsBody,
} from '@gpufleet/protocol';
import { systemClock, type Clock } from './clock.js';
import type { AgentIdentity } from './identity.js';
import { clampServerInterval, DEFAULT_SERVER_INTERVAL_BOUNDS, type IntervalBounds } from './interval-bounds.js';
import { errorText, silentLogger, type Logger } from './logger.js';
import type { MetricsRing } from './metrics-ring.js';
import type { Outbox } from './outbox.js';
import { agentSocketUrl, DialPlan, type BackoffOptions } from './dial-plan.js';
import type { OutboxItem } from './state.js';

/** What the server says in its welcome frame. */
export interface WelcomeInfo {
  nodeId: string;
  status: string;
  heartbeatMs: number;
  metricsIntervalMs: number;
  ackedSeq: number;
  /** The control plane's replica URLs, when the server lists them (newer servers). */
  serverUrls?: string[];
}

/** Server frames for remote operations and workloads, handed to the agent once the session is live. */
export type RemoteOpFrame = Extract<ServerFrame, { t: 'command' | 'cancel' | 'trust' | 'alloc' | 'update' }>;

/**
 * 'connecting': dialing; 'handshaking': socket open, waiting for challenge and welcome;
 * 'live': welcomed; 'waiting': backing off before the next dial; 'failed': the server refused
 * us for good (no more retries); 'stopped': stop() was called.
 */
export type LinkState = 'idle' | 'connecting' | 'handshaking' | 'live' | 'waiting' | 'failed' | 'stopped';

// Where they were defined before replicas; the agent's public API still names them here.
export { agentSocketUrl, backoffDelay, type BackoffOptions } from './dial-plan.js';

export interface LinkOptions {
  /**
   * Server base URLs (http or https), one per control-plane replica, tried first to last; the
   * link dials `{url}/v1/agent` over ws or wss. A single-server fleet lists one.
   */
  serverUrls: readonly string[];
  /** The pinned CA: the only CA trusted for wss. Null: system CAs (only reachable for loopback http). */
  caPem: string | null;
  identity: AgentIdentity;
  agentVersion: string;
  outbox: Outbox;
  metrics: MetricsRing<MetricsBody>;
  logger?: Logger;
  clock?: Clock;
  /** Uniform in [0, 1): the backoff jitter. Injectable so tests are deterministic. */
  random?: () => number;
  backoff?: BackoffOptions;
  /** Heartbeat interval until a welcome says otherwise. */
  heartbeatMs?: number;
  /** The welcome's heartbeat interval is clamped to these. Default 1 s to 1 min. */
  heartbeatBounds?: IntervalBounds;
  /** Challenge and welcome must both arrive within this after the socket opens. Default 15 s. */
  handshakeTimeoutMs?: number;
  /** A welcome listed replicas that differ from the link's list: the new list, the replica in use first. */
  onServerUrls?: (urls: string[]) => void;
  /** Called on each welcome after the outbox replay; the agent enqueues its fresh inventory here. */
  onWelcome?: (welcome: WelcomeInfo) => void;
  /** The server changed the metrics interval. */
  onConfig?: (config: { metricsIntervalMs: number }) => void;
  /** The server refused this node for good (removed, bad key, unsupported version). */
  onFatal?: (reason: string) => void;
  /** A `command`, `cancel`, `trust`, `alloc` or `update` frame arrived on the live session. */
  onRemoteOp?: (frame: RemoteOpFrame) => void;
  /** A `command` frame arrived that does not match the protocol (so it can be refused, not lost). */
  onMalformedCommand?: (raw: unknown, why: string) => void;
  /** An `alloc` frame arrived that does not match the protocol (a start is refused, not lost). */
  onMalformedAlloc?: (raw: unknown, why: string) => void;
}

/** Counters for diagnostics and the simulator's summary. */
export interface LinkStats {
  dials: number;
  welcomes: number;
  framesSent: number;
  badFrames: number;
  serverErrors: number;
}

// Past this much unsent data on the socket, metrics wait in the ring instead of piling up in memory.
const CONGESTED_BYTES = 1024 * 1024;

/**
 * The agent's WebSocket session (DESIGN.md §3, §4): dial out, answer the challenge by signing it,
 * replay the outbox, then heartbeats and metrics; reconnect with jittered exponential backoff
 * until the server refuses the node for good.
 * Several replicas: DialPlan picks the URL. A refusal for good from any replica ends the link:
 * replicas share one store, so another would refuse the node too.
 */
export class AgentLink {
  private socket: WebSocket | null = null;
  private current: LinkState = 'idle';
  private retryTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private fatalReason: string | null = null;
  /** Set once this connection's hello went out; a welcome before it is not believed. */
  private helloSent = false;
  private lastHeard = 0;
  private hbMs: number;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly plan: DialPlan;
  /** The server URL of the present socket; null between sockets. */
  private socketUrl: string | null = null;
  readonly stats: LinkStats = { dials: 0, welcomes: 0, framesSent: 0, badFrames: 0, serverErrors: 0 };
  /** The last welcome; null until the first one. */
  welcome: WelcomeInfo | null = null;

  constructor(private readonly o: LinkOptions) {
    this.logger = o.logger ?? silentLogger;
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? Math.random;
    this.hbMs = o.heartbeatMs ?? 5000;
    this.plan = new DialPlan(o.serverUrls, this.random, o.backoff);
  }

  /** The server URL this link is talking to (or dialing), else the one it dials next. */
  get currentUrl(): string {
    return this.socketUrl ?? this.plan.current;
  }

  /** Every replica URL, in the order the link tries them. */
  get serverUrls(): string[] {
    return this.plan.list;
  }

  get state(): LinkState {
    return this.current;
  }

  /** Why the server refused this node, once state is 'failed'. */
  get failure(): string | null {
    return this.current === 'failed' ? this.fatalReason : null;
  }

  start(): void {
    if (this.current !== 'idle') return;
    this.dial();
  }

  /** Closes the session with 1000 and stops retrying; resolves once the socket is closed. */
  async stop(): Promise<void> {
    if (this.current === 'stopped') return;
    this.current = 'stopped';
    this.clearTimers();
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 2000);
      socket.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(CLOSE_CODES.normal, 'agent stopping');
    });
  }

  /** Sends an outbox item now when the session is live; otherwise it waits for the next replay. */
  offer(item: OutboxItem): void {
    if (this.current === 'live') this.send(item);
  }

  /** Sends metrics now when live and not congested; otherwise keeps them in the ring. */
  sendMetrics(body: MetricsBody): void {
    if (this.current === 'live' && this.socket && this.socket.bufferedAmount < CONGESTED_BYTES) this.send({ t: 'metrics', body });
    else this.o.metrics.push(body);
  }

  private dial(): void {
    this.current = 'connecting';
    this.stats.dials++;
    const serverUrl = this.plan.current;
    let wsUrl = serverUrl;
    let socket: WebSocket;
    try {
      wsUrl = agentSocketUrl(serverUrl);
      socket = new WebSocket(wsUrl, {
        maxPayload: MAX_FRAME_BYTES,
        handshakeTimeout: this.o.handshakeTimeoutMs ?? 15_000,
        perMessageDeflate: false,
        ...(this.o.caPem ? { ca: this.o.caPem } : {}),
      });
    } catch (err) {
      // A URL ws cannot dial is not going to get better by retrying; another replica may do.
      if (this.plan.list.length === 1) this.fail(`cannot dial ${wsUrl}: ${errorText(err)}`);
      else this.retry(false, { url: serverUrl, err: errorText(err) });
      return;
    }
    this.socket = socket;
    this.socketUrl = serverUrl;
    socket.on('open', () => {
      if (this.socket !== socket) return;
      this.current = 'handshaking';
      this.helloSent = false;
      this.lastHeard = performance.now();
      this.handshakeTimer = setTimeout(() => {
        this.logger.warn('no welcome from the server in time; reconnecting', { url: serverUrl });
        socket.terminate();
      }, this.o.handshakeTimeoutMs ?? 15_000);
    });
    socket.on('message', (data, isBinary) => {
      if (this.socket === socket) this.onMessage(socket, data, isBinary);
    });
    socket.on('pong', () => {
      this.lastHeard = performance.now();
    });
    socket.on('error', (err) => {
      if (this.socket === socket) this.logger.warn('connection error', { url: serverUrl, err: errorText(err) });
    });
    socket.on('close', (code, reason) => {
      if (this.socket === socket) this.onClose(code, reason.toString());
    });
  }

  private onMessage(socket: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    this.lastHeard = performance.now();
    let raw: unknown;
    if (!isBinary) {
      try {
        raw = JSON.parse(data.toString());
      } catch {
        raw = undefined;
      }
    }
    const parsed = ServerFrame.safeParse(raw);
    if (!parsed.success) {
      // A frame we cannot read is the server's bug or a newer server; never a reason to crash.
      this.stats.badFrames++;
      const t = (raw as { t?: unknown } | null)?.t;
      if ((t === 'command' || t === 'alloc') && this.current === 'live') {
        const issue = parsed.error.issues[0];
        const why = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
        if (t === 'command') this.o.onMalformedCommand?.(raw, why);
        else this.o.onMalformedAlloc?.(raw, why);
        return;
      }
      this.logger.warn('ignoring a frame from the server that does not match the protocol', {
        type: typeof (raw as { t?: unknown } | undefined)?.t === 'string' ? (raw as { t: string }).t : null,
      });
      return;
    }
    const frame = parsed.data;
    switch (frame.t) {
      case 'challenge': {
        if (this.current !== 'handshaking' || this.helloSent) return;
        if (!frame.body.protocolVersions.includes(PROTOCOL_VERSION)) {
          this.fatalReason = `the server speaks protocol version(s) ${frame.body.protocolVersions.join(', ')} and this agent speaks ${PROTOCOL_VERSION}: upgrade the agent`;
          socket.close(CLOSE_CODES.normal, 'unsupported protocol version');
          return;
        }
        const nodeId = this.o.identity.did;
        this.send({
          t: 'hello',
          body: {
            protocolVersion: PROTOCOL_VERSION,
            nodeId,
            agentVersion: this.o.agentVersion,
            signature: signEd25519(this.o.identity.privateKeyPem, challengeMessage(frame.body.nonce, nodeId)),
            lastSeq: this.o.outbox.lastSeq,
          },
        });
        this.helloSent = true;
        return;
      }
      case 'welcome':
        if (this.current === 'handshaking' && this.helloSent) this.onWelcome(frame.body);
        return;
      case 'ack':
        this.o.outbox.ack(frame.body.seq);
        return;
      case 'config':
        this.o.onConfig?.({ metricsIntervalMs: frame.body.metricsIntervalMs });
        return;
      case 'error': {
        const { code, message, fatal, seq } = frame.body;
        this.stats.serverErrors++;
        if (fatal) {
          this.fatalReason = `${code}: ${message}`;
          this.logger.error('the server refused this agent', { code, message });
        } else {
          this.logger.warn('the server reported a problem', { code, message, ...(seq === undefined ? {} : { seq }) });
        }
        return;
      }
      case 'command':
      case 'cancel':
      case 'trust':
      case 'alloc':
      case 'update':
        // Only on a session the server welcomed; the agent verifies every command and job itself anyway.
        if (this.current !== 'live') {
          this.logger.warn('ignoring a remote-operation frame before the welcome', { type: frame.t });
          return;
        }
        this.o.onRemoteOp?.(frame);
        return;
    }
  }

  private onWelcome(body: WelcomeInfo): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    if (body.nodeId !== this.o.identity.did) this.logger.warn('welcome names another node id', { expected: this.o.identity.did, got: body.nodeId });
    this.welcome = body;
    this.plan.welcomed();
    this.hbMs = clampServerInterval('heartbeat', body.heartbeatMs, this.o.heartbeatBounds ?? DEFAULT_SERVER_INTERVAL_BOUNDS.heartbeat, this.logger);
    this.stats.welcomes++;
    this.current = 'live';
    this.logger.info('connected to the server', { url: this.currentUrl, status: body.status, ackedSeq: body.ackedSeq, pending: this.o.outbox.size });
    if (body.status === 'PENDING') this.logger.warn('this node waits for an administrator to approve it');
    // Order matters (the server applies seqs in order): replay, then the fresh inventory, then old metrics.
    this.o.outbox.resync(body.ackedSeq);
    for (const item of this.o.outbox.pending()) this.send(item);
    this.o.onWelcome?.(body);
    for (const m of this.o.metrics.drain()) this.send({ t: 'metrics', body: m });
    this.heartbeatTimer = setInterval(() => this.beat(), this.hbMs);
    if (body.serverUrls && body.serverUrls.length > 0) this.takeServerUrls(body.serverUrls);
  }

  /** The server listed its replicas: dial those from now on, this one first while it is listed. */
  private takeServerUrls(urls: string[]): void {
    if (!this.plan.replace(urls, this.currentUrl)) return;
    const list = this.plan.list;
    this.logger.info('the server listed its replicas', { serverUrls: list });
    this.o.onServerUrls?.(list);
  }

  private beat(): void {
    const socket = this.socket;
    if (!socket || this.current !== 'live') return;
    // Silence for three heartbeats means a dead TCP path that will not report itself soon.
    // Real elapsed time, not the injected clock: the simulator may run a clock of its own.
    const silentMs = performance.now() - this.lastHeard;
    if (silentMs > 3 * this.hbMs) {
      this.logger.warn('the server went silent; reconnecting', { silentMs: Math.round(silentMs) });
      socket.terminate();
      return;
    }
    this.send({ t: 'heartbeat', body: { ts: this.clock.now() } });
    try {
      socket.ping();
    } catch {
      // Closing already: the close handler takes over.
    }
  }

  private send(frame: AgentFrame | OutboxItem): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    try {
      socket.send(JSON.stringify(frame));
      this.stats.framesSent++;
    } catch (err) {
      this.logger.warn('could not send a frame', { err: errorText(err) });
    }
  }

  private onClose(code: number, reason: string): void {
    const wasLive = this.current === 'live';
    const url = this.socketUrl;
    this.clearTimers();
    this.socket = null;
    this.socketUrl = null;
    if (this.current === 'stopped') return;
    if (this.fatalReason === null && (code === CLOSE_CODES.unauthenticated || code === CLOSE_CODES.forbidden)) {
      this.fatalReason = `the server closed the session with ${code}${reason ? ` (${reason})` : ''}`;
    }
    if (this.fatalReason !== null) {
      this.fail(this.fatalReason);
      return;
    }
    if (code === CLOSE_CODES.replaced) this.logger.warn('another session for this node replaced ours: is a second agent running with the same key?');
    this.retry(wasLive, { url, code, reason });
  }

  /**
   * Schedules the next dial. A live session that drops retries its replica (most likely back
   * soon: a restart, a blip); a dial that got no welcome moves on (DialPlan.afterClose).
   */
  private retry(wasLive: boolean, fields: Record<string, unknown>): void {
    const delay = this.plan.afterClose(wasLive);
    this.current = 'waiting';
    this.logger.info('disconnected; reconnecting', { ...fields, retryInMs: delay, nextUrl: this.plan.current });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.current === 'waiting') this.dial();
    }, delay);
  }

  private fail(reason: string): void {
    this.fatalReason = reason;
    this.current = 'failed';
    this.clearTimers();
    this.logger.error('giving up: the server will not take this node; not retrying', { reason });
    this.o.onFatal?.(reason);
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.retryTimer = this.handshakeTimer = this.heartbeatTimer = null;
  }
}
