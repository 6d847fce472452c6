import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  AgentFrame,
  CLOSE_CODES,
  EnrollRequest,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  challengeMessage,
  enrollmentMessage,
  verifyEd25519,
  type AgentEvent,
  type InventoryBody,
  type MetricsBody,
  type ServerFrame,
} from '@gpufleet/protocol';

/**
 * A stand-in for the control plane in agent and simulator tests: the enroll endpoint, the CA
 * endpoint and the agent WebSocket protocol (challenge, hello check, welcome with ackedSeq,
 * acks), recording what agents send and noting every protocol violation. Not the real server:
 * that one has its own end-to-end tests.
 */

export interface FakeToken {
  secret: string;
  /** Status given to nodes enrolling with it. Default 'READY'. */
  status?: 'READY' | 'PENDING';
  /** Refuse every enrollment with this HTTP status and error. */
  refuse?: { status: number; code: string; message: string };
}

export interface FakeControlPlaneOptions {
  /** Serve https with this key and certificate; `/v1/ca.pem` hands out `ca`. */
  tls?: { key: string; cert: string; ca: string };
  tokens?: Record<string, FakeToken>;
  heartbeatMs?: number;
  metricsIntervalMs?: number;
  /** Acknowledge outbox items as they arrive. Default true. */
  autoAck?: boolean;
  /** Replica URLs to list in every welcome (a replicated control plane). Default: none listed. */
  serverUrls?: string[];
}

/** What the fake server knows about one node. */
export interface FakeNode {
  nodeId: string;
  /** Highest seq acknowledged (what the next welcome says). */
  ackedSeq: number;
  /** Highest seq received (acknowledged or not). */
  lastSeq: number;
  inventories: { seq: number; body: InventoryBody }[];
  events: { seq: number; body: AgentEvent }[];
  metrics: MetricsBody[];
  heartbeats: number;
  welcomes: number;
  hellos: { lastSeq: number; agentVersion: string }[];
  /** When set, the next hello is refused with this close code (4401/4403) and a fatal error frame. */
  refuse: { code: number; message: string } | null;
}

export class FakeControlPlane {
  private server: Server | null = null;
  private readonly wss: WebSocketServer;
  readonly nodes = new Map<string, FakeNode>();
  readonly sessions = new Map<string, WebSocket>();
  readonly enrollRequests: EnrollRequest[] = [];
  /** Protocol violations by agents (invalid frames, bad signatures, replayed or skipped seqs). */
  readonly violations: string[] = [];
  /** Every valid frame in arrival order: type, seq (outbox items) and node (after hello). */
  readonly frames: { nodeId: string | null; t: string; seq?: number }[] = [];
  /** Close codes of ended sessions, with the node where it was known. */
  readonly closes: { nodeId: string | null; code: number }[] = [];
  /** WebSocket connections accepted, welcomed or not. */
  connections = 0;
  url = '';
  /** What the next welcomes list as the control plane's replicas; null lists none (an older server). */
  serverUrls: string[] | null;
  private readonly autoAck: boolean;

  constructor(private readonly o: FakeControlPlaneOptions = {}) {
    this.autoAck = o.autoAck ?? true;
    this.serverUrls = o.serverUrls ?? null;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  }

  async start(): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.onHttp(req, res);
    const server = this.o.tls ? createHttpsServer({ key: this.o.tls.key, cert: this.o.tls.cert }, handler) : createHttpServer(handler);
    server.on('upgrade', (req, socket, head) => {
      if (req.url !== '/v1/agent') {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `${this.o.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** Makes a node known without enrollment (tests that write the node config themselves). */
  addNode(nodeId: string): FakeNode {
    let node = this.nodes.get(nodeId);
    if (!node) {
      node = { nodeId, ackedSeq: 0, lastSeq: 0, inventories: [], events: [], metrics: [], heartbeats: 0, welcomes: 0, hellos: [], refuse: null };
      this.nodes.set(nodeId, node);
    }
    return node;
  }

  /** Closes a node's session with the given code (a server restart, a removal). */
  kick(nodeId: string, code: number = CLOSE_CODES.goingAway, reason = 'test'): void {
    this.sessions.get(nodeId)?.close(code, reason);
  }

  /** Sends any server frame to a node's session. */
  sendTo(nodeId: string, frame: object): void {
    this.sessions.get(nodeId)?.send(JSON.stringify(frame));
  }

  /** Acknowledges everything a node sent up to `seq` (with autoAck off). */
  ack(nodeId: string, seq: number): void {
    const node = this.nodes.get(nodeId);
    if (!node) return;
    node.ackedSeq = Math.max(node.ackedSeq, seq);
    this.sendTo(nodeId, { t: 'ack', body: { seq } });
  }

  /** Resolves once `check` is true; rejects after `timeoutMs` naming `what`. */
  async waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/v1/ca.pem') {
      if (!this.o.tls) return reply(404, { error: { code: 'not_found', message: 'no CA on a plain-http server' } });
      return reply(200, this.o.tls.ca, 'application/x-pem-file');
    }
    if (req.method !== 'POST' || req.url !== '/api/v1/enroll')
      return reply(404, { error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(400, { error: { code: 'invalid_argument', message: 'body is not JSON' } });
    }
    const parsed = EnrollRequest.safeParse(raw);
    if (!parsed.success)
      return reply(400, {
        error: { code: 'invalid_argument', message: `bad enroll request: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}` },
      });
    const body = parsed.data;
    this.enrollRequests.push(body);
    const token = this.o.tokens?.[body.tokenId];
    if (!token || token.secret !== body.secret) return reply(401, { error: { code: 'unauthenticated', message: 'join token not recognized' } });
    if (token.refuse) return reply(token.refuse.status, { error: { code: token.refuse.code, message: token.refuse.message } });
    if (!verifyEd25519(body.nodeId, enrollmentMessage(body.tokenId, body.nodeId), body.signature)) {
      return reply(401, { error: { code: 'unauthenticated', message: 'enrollment signature does not verify against the presented node key' } });
    }
    this.addNode(body.nodeId);
    return reply(201, { nodeId: body.nodeId, status: token.status ?? 'READY', heartbeatMs: this.o.heartbeatMs ?? 5000 });
  }

  private onSocket(ws: WebSocket): void {
    this.connections++;
    const nonce = randomBytes(16).toString('base64url');
    let node: FakeNode | null = null;
    let resynced = false;
    const send = (frame: ServerFrame) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(frame));
    const fatal = (code: number, errCode: 'unauthenticated' | 'permission_denied' | 'unsupported_version', message: string) => {
      send({ t: 'error', body: { code: errCode, message, fatal: true } });
      ws.close(code, message.slice(0, 100));
    };
    send({ t: 'challenge', body: { nonce, serverTime: Date.now(), protocolVersions: [PROTOCOL_VERSION] } });
    ws.on('message', (data) => {
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString());
      } catch {
        this.violations.push('frame is not JSON');
        return;
      }
      const parsed = AgentFrame.safeParse(raw);
      if (!parsed.success) {
        this.violations.push(`invalid ${(raw as { t?: string })?.t} frame: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
        return;
      }
      const frame = parsed.data;
      this.frames.push({ nodeId: node?.nodeId ?? null, t: frame.t, ...('seq' in frame ? { seq: frame.seq } : {}) });
      if (frame.t === 'hello') {
        const known = this.nodes.get(frame.body.nodeId);
        if (!known) return fatal(CLOSE_CODES.unauthenticated, 'unauthenticated', 'unknown node: join the fleet first');
        if (!verifyEd25519(frame.body.nodeId, challengeMessage(nonce, frame.body.nodeId), frame.body.signature)) {
          this.violations.push(`bad challenge signature from ${frame.body.nodeId}`);
          return fatal(CLOSE_CODES.unauthenticated, 'unauthenticated', 'challenge signature does not verify against the node key');
        }
        if (frame.body.protocolVersion !== PROTOCOL_VERSION)
          return fatal(CLOSE_CODES.unsupportedVersion, 'unsupported_version', 'unsupported protocol version');
        known.hellos.push({ lastSeq: frame.body.lastSeq, agentVersion: frame.body.agentVersion });
        if (known.refuse)
          return fatal(known.refuse.code, known.refuse.code === CLOSE_CODES.forbidden ? 'permission_denied' : 'unauthenticated', known.refuse.message);
        node = known;
        this.sessions.get(node.nodeId)?.close(CLOSE_CODES.replaced, 'replaced');
        this.sessions.set(node.nodeId, ws);
        // Like the real gateway: unacked items from a dropped session are expected again.
        node.lastSeq = node.ackedSeq;
        node.welcomes++;
        send({
          t: 'welcome',
          body: {
            nodeId: node.nodeId,
            status: 'READY',
            heartbeatMs: this.o.heartbeatMs ?? 5000,
            metricsIntervalMs: this.o.metricsIntervalMs ?? 10_000,
            ackedSeq: node.ackedSeq,
            ...(this.serverUrls ? { serverUrls: this.serverUrls } : {}),
          },
        });
        return;
      }
      if (!node) {
        this.violations.push(`'${frame.t}' before hello`);
        return;
      }
      switch (frame.t) {
        case 'heartbeat':
          node.heartbeats++;
          return;
        case 'metrics':
          node.metrics.push(frame.body);
          return;
        case 'inventory':
        case 'event': {
          // The real gateway's rules: never a seq at or below the last one, and after the first item no gaps.
          if (frame.seq <= node.lastSeq) this.violations.push(`${node.nodeId}: replayed seq ${frame.seq} (last ${node.lastSeq})`);
          else if (resynced && frame.seq !== node.lastSeq + 1) this.violations.push(`${node.nodeId}: seq ${frame.seq} skips ahead of ${node.lastSeq + 1}`);
          resynced = true;
          node.lastSeq = Math.max(node.lastSeq, frame.seq);
          if (frame.t === 'inventory') node.inventories.push({ seq: frame.seq, body: frame.body });
          else node.events.push({ seq: frame.seq, body: frame.body });
          if (this.autoAck) {
            node.ackedSeq = frame.seq;
            send({ t: 'ack', body: { seq: frame.seq } });
          }
          return;
        }
      }
    });
    ws.on('close', (code) => {
      this.closes.push({ nodeId: node?.nodeId ?? null, code });
      if (node && this.sessions.get(node.nodeId) === ws) this.sessions.delete(node.nodeId);
    });
  }
}
