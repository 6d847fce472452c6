import { randomBytes } from 'node:crypto';
import type { WebSocket, RawData } from 'ws';
import {
  AGENT_FRAME_TYPES,
  AgentFrame,
  CLOSE_CODES,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  challengeMessage,
  replicaOrderFor,
  verifyEd25519,
  type ErrorCode,
  type ServerFrame,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { AgentEventRecord } from '../store/store.js';
import type { GatewayStats } from './gateway-stats.js';
import type { MetricsBody } from '@gpufleet/protocol';
import type { AgentSessions } from './agent-sessions.js';

/** Where outbox events go: stored (resolves once durable, then the item is acked) and routed. */
export interface AgentEventSink {
  accept(record: AgentEventRecord): Promise<void>;
}

/** Where metrics frames go (app/metrics-ingest.ts). */
export interface MetricsSink {
  ingest(nodeId: string, body: MetricsBody): void;
}

/** Told after a session is welcomed (trust material first, then commands that waited). */
export interface SessionReadyListener {
  onSessionReady(nodeId: string): void;
}

export interface GatewayOptions {
  registry: NodeRegistry;
  /** The session table the senders (runs, trust) share. */
  sessions: AgentSessions;
  events: AgentEventSink;
  metrics: MetricsSink;
  /** In this order, after each welcome. */
  sessionReady: readonly SessionReadyListener[];
  stats: GatewayStats;
  clock: Clock;
  heartbeatMs: number;
  metricsIntervalMs: number;
  /** The control plane's replica URLs, for the welcome: agents learn where to go when this replica dies. */
  serverUrls: () => string[];
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Violations a session may commit before it is closed. */
  maxViolations?: number;
  helloTimeoutMs?: number;
  /**
   * Bytes of one session's outbox frames that may wait to be stored (behind a slow store, or a
   * node over its event budget); past it the session is closed and the agent replays later, so a
   * node cannot grow the server's memory by sending faster than it is stored. Default 8 MiB.
   */
  maxQueuedBytes?: number;
}

interface Session {
  socket: WebSocket;
  nonce: string;
  nodeId: string | null;
  /** Highest seq applied or in flight; the next outbox frame must carry lastSeq + 1. */
  lastSeq: number;
  /** False until the first outbox item after hello: the stored ackedSeq may lag after a crash. */
  resynced: boolean;
  violations: number;
  chain: Promise<void>;
  helloTimer: NodeJS.Timeout | null;
  /** Highest stored seq not yet acknowledged; acks are cumulative, so one frame covers a burst. */
  ackUpTo: number | null;
  /** Outbox items arrived while the node was PENDING and were neither stored nor acked. */
  heldWhilePending: boolean;
  /** Bytes of outbox frames received and not yet stored. */
  queuedBytes: number;
}

/**
 * The agent end of the WebSocket protocol (DESIGN.md §4): challenge-response with the node's
 * Ed25519 key, version check, per-frame validation and size limit, in-order de-duplicated
 * outbox items acknowledged only after they are stored. One bad agent never affects another.
 */
export class AgentGateway {
  private readonly sessions: AgentSessions;
  private readonly maxViolations: number;

  constructor(private readonly o: GatewayOptions) {
    this.sessions = o.sessions;
    this.maxViolations = o.maxViolations ?? 5;
  }

  hasSession(nodeId: string): boolean {
    return this.sessions.hasSession(nodeId);
  }

  get sessionCount(): number {
    return this.sessions.sessionCount;
  }

  /** See AgentSessions.sendToNode. */
  sendToNode(nodeId: string, frame: ServerFrame): boolean {
    return this.sessions.sendToNode(nodeId, frame);
  }

  /** See AgentSessions.sendSerialized. */
  sendSerialized(nodeId: string, text: string): boolean {
    return this.sessions.sendSerialized(nodeId, text);
  }

  /** Ids of the nodes with a live session right now. */
  connectedNodeIds(): string[] {
    return this.sessions.connectedNodeIds();
  }

  /** Closes a node's session, e.g. when an operator removes the node. */
  disconnect(nodeId: string, code: number, reason: string): void {
    this.sessions.disconnect(nodeId, code, reason);
  }

  closeAll(): void {
    this.sessions.closeAll();
  }

  accept(socket: WebSocket): void {
    const session: Session = {
      socket,
      nonce: randomBytes(24).toString('base64url'),
      nodeId: null,
      lastSeq: 0,
      resynced: false,
      violations: 0,
      chain: Promise.resolve(),
      helloTimer: null,
      ackUpTo: null,
      heldWhilePending: false,
      queuedBytes: 0,
    };
    session.helloTimer = setTimeout(
      () => this.fatal(session, 'unauthenticated', 'no hello within the time limit', CLOSE_CODES.unauthenticated),
      this.o.helloTimeoutMs ?? 10_000,
    );
    socket.on('message', (data, isBinary) => this.onMessage(session, data, isBinary));
    socket.on('close', () => this.onClose(session));
    socket.on('error', () => socket.terminate());
    this.send(session, { t: 'challenge', body: { nonce: session.nonce, serverTime: this.o.clock.now(), protocolVersions: [PROTOCOL_VERSION] } });
  }

  private send(session: Session, frame: ServerFrame): void {
    if (session.socket.readyState === 1) session.socket.send(JSON.stringify(frame));
  }

  private onClose(session: Session): void {
    if (session.helloTimer) clearTimeout(session.helloTimer);
    if (session.nodeId) this.sessions.delete(session.nodeId, session);
  }

  private fatal(session: Session, code: ErrorCode, message: string, closeCode: number): void {
    this.o.stats.refused(code);
    this.send(session, { t: 'error', body: { code, message, fatal: true } });
    session.socket.close(closeCode, message.slice(0, 120));
  }

  /** A refused frame: said to the agent, counted, and the session closed after too many. */
  private violation(session: Session, reason: string, message: string, seq?: number): void {
    this.o.stats.refused(reason);
    session.violations++;
    if (session.violations >= this.maxViolations) {
      this.fatal(session, 'invalid_argument', `too many protocol violations (last: ${message})`, CLOSE_CODES.protocolViolation);
      return;
    }
    this.send(session, { t: 'error', body: { code: 'invalid_argument', message, fatal: false, ...(seq === undefined ? {} : { seq }) } });
  }

  private onMessage(session: Session, data: RawData, isBinary: boolean): void {
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    if (isBinary) return this.violation(session, 'binary', 'binary frames are not part of the protocol');
    if (size > MAX_FRAME_BYTES) return this.violation(session, 'too_large', `frame of ${size} bytes is over the ${MAX_FRAME_BYTES}-byte limit`);
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch {
      return this.violation(session, 'malformed_json', 'frame is not valid JSON');
    }
    const t = (raw as { t?: unknown } | null)?.t;
    if (typeof t !== 'string' || !(AGENT_FRAME_TYPES as readonly string[]).includes(t)) {
      return this.violation(session, 'unknown_type', `unknown frame type ${JSON.stringify(t)?.slice(0, 40)}`);
    }
    const parsed = AgentFrame.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.violation(session, 'schema', `'${t}' frame does not match its schema: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
    }
    const frame = parsed.data;
    this.o.stats.frame(frame.t);
    if (frame.t === 'hello') return this.onHello(session, frame.body);
    if (session.nodeId === null) return this.fatal(session, 'unauthenticated', `'${frame.t}' before a successful hello`, CLOSE_CODES.unauthenticated);
    const nodeId = session.nodeId;
    this.o.registry.seen(nodeId);
    if (session.heldWhilePending && this.o.registry.get(nodeId)?.adminState !== 'pending') {
      // Approved since items were held: a new session replays them, in order, from the stored ackedSeq.
      return session.socket.close(CLOSE_CODES.goingAway, 'node approved: reconnect to replay the outbox');
    }
    switch (frame.t) {
      case 'heartbeat':
        return;
      case 'metrics':
        this.o.stats.lag((this.o.clock.now() - frame.body.ts) / 1000);
        this.o.metrics.ingest(nodeId, frame.body);
        return;
      case 'inventory':
      case 'event': {
        if (this.o.registry.get(nodeId)?.adminState === 'pending') {
          // Nothing is stored for a node an admin has not approved, and nothing acked: its agent keeps the items.
          session.heldWhilePending = true;
          return;
        }
        if (frame.seq <= session.lastSeq)
          return this.violation(session, 'replayed_seq', `seq ${frame.seq} was already received (last ${session.lastSeq})`, frame.seq);
        if (session.resynced && frame.seq !== session.lastSeq + 1)
          return this.violation(session, 'out_of_order_seq', `seq ${frame.seq} skips ahead (expected ${session.lastSeq + 1})`, frame.seq);
        if (session.queuedBytes + size > (this.o.maxQueuedBytes ?? 8 * 1024 * 1024)) {
          this.o.log.warn(
            { nodeId, seq: frame.seq, queuedBytes: session.queuedBytes },
            'node sends outbox items faster than they are stored; closing its session, the agent will resend',
          );
          return session.socket.close(CLOSE_CODES.goingAway, 'too many items waiting to be stored: reconnect later');
        }
        session.queuedBytes += size;
        session.lastSeq = frame.seq;
        session.resynced = true;
        const seq = frame.seq;
        const apply =
          frame.t === 'inventory'
            ? () => this.o.registry.applyInventory(nodeId, frame.body)
            : async () => {
                const record: AgentEventRecord = {
                  nodeId,
                  seq,
                  id: frame.body.id,
                  ts: frame.body.ts,
                  kind: frame.body.kind,
                  gpuUuid: frame.body.gpuUuid,
                  pciBusId: frame.body.pciBusId,
                  message: frame.body.message,
                  data: frame.body.data,
                  receivedAt: this.o.clock.now(),
                };
                await this.o.events.accept(record);
              };
        // Items of one node are applied in order; the ack goes out only once the item is stored.
        session.chain = session.chain
          .then(apply)
          .then(() => this.o.registry.setAckedSeq(nodeId, seq))
          .then(() => this.ackSoon(session, seq))
          .catch((err: Error) => {
            // Over its event budget (gateway/event-limits.ts) for too long: cut off, it replays from its last ack later.
            const limited = (err as { code?: unknown }).code === 'rate_limited';
            this.o.log.warn(
              { nodeId, seq, err: err.message },
              limited
                ? 'node sends events faster than it may store them; closing its session, the agent will resend'
                : 'could not store an outbox item; the agent will resend it',
            );
            session.socket.close(CLOSE_CODES.goingAway, limited ? 'event rate limit: reconnect later' : 'store unavailable');
          })
          .finally(() => {
            session.queuedBytes -= size;
          });
        return;
      }
    }
  }

  /**
   * Acknowledges everything up to `seq` once the current burst of stored items is done: an ack
   * means "all up to here", so a run's started, output and result events stored together cost
   * one frame instead of three (at a 10,000-host fan-out, 20,000 fewer frames per run).
   */
  private ackSoon(session: Session, seq: number): void {
    const scheduled = session.ackUpTo !== null;
    session.ackUpTo = seq;
    if (scheduled) return;
    setImmediate(() => {
      const upTo = session.ackUpTo;
      session.ackUpTo = null;
      if (upTo !== null) this.send(session, { t: 'ack', body: { seq: upTo } });
    });
  }

  private onHello(session: Session, body: { protocolVersion: number; nodeId: string; agentVersion: string; signature: string; lastSeq: number }): void {
    if (session.nodeId !== null) return this.violation(session, 'duplicate_hello', 'hello was already accepted on this session');
    if (session.helloTimer) clearTimeout(session.helloTimer);
    if (body.protocolVersion !== PROTOCOL_VERSION) {
      return this.fatal(
        session,
        'unsupported_version',
        `protocol version ${body.protocolVersion} is not supported; this server speaks ${PROTOCOL_VERSION}`,
        CLOSE_CODES.unsupportedVersion,
      );
    }
    const node = this.o.registry.get(body.nodeId);
    if (!node) return this.fatal(session, 'unauthenticated', 'unknown node: join the fleet first (gpufleet-agent join <token>)', CLOSE_CODES.unauthenticated);
    if (!verifyEd25519(body.nodeId, challengeMessage(session.nonce, body.nodeId), body.signature)) {
      return this.fatal(session, 'unauthenticated', 'challenge signature does not verify against the node key', CLOSE_CODES.unauthenticated);
    }
    if (node.adminState === 'decommissioned') {
      return this.fatal(session, 'permission_denied', 'this node was removed from the fleet and its key revoked', CLOSE_CODES.forbidden);
    }
    session.nodeId = node.id;
    session.lastSeq = node.ackedSeq;
    const previous = this.sessions.set(node.id, session);
    previous?.socket.close(CLOSE_CODES.replaced, 'replaced by a newer session');
    this.o.registry.seen(node.id);
    queueMicrotask(() => {
      for (const listener of this.o.sessionReady) listener.onSessionReady(node.id);
    });
    // In this node's order (the agent keeps the replica in use first): when a replica dies its
    // agents spread over the others instead of all moving to the same next one.
    const urls = replicaOrderFor(node.id, this.o.serverUrls());
    this.send(session, {
      t: 'welcome',
      body: {
        nodeId: node.id,
        status: this.o.registry.status(node),
        heartbeatMs: this.o.heartbeatMs,
        metricsIntervalMs: this.o.metricsIntervalMs,
        ackedSeq: node.ackedSeq,
        // One URL is the single-replica fleet: the agent's own list is as good, so nothing is sent.
        ...(urls.length > 1 ? { serverUrls: urls } : {}),
      },
    });
  }
}
