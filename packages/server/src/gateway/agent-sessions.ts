import { CLOSE_CODES, type ServerFrame } from '@gpufleet/protocol';
import type { WebSocket } from 'ws';

/**
 * Where sessions are recorded across replicas and where frames for a node held by another replica
 * go (replicas/session-owners.ts and replicas/frame-relay.ts; with one replica, nowhere).
 */
export interface SessionPresence {
  claim(nodeId: string): void;
  release(nodeId: string): void;
  /** The live replica holding the node's session when it is not this one. */
  liveHolderElsewhere(nodeId: string): string | null;
}

export interface RemoteFrames {
  /** Hands a serialised frame to the replica holding the node's session (at most once). */
  send(replica: string, nodeId: string, text: string): void;
}

/** What a session table keeps of a session: its socket. */
export interface SessionSocket {
  socket: WebSocket;
}

/**
 * The live agent sessions by node id: what the services that send to hosts (runs, trust
 * distribution) need, apart from the protocol handler that accepts and reads them
 * (agent-gateway.ts). Its own service so senders do not depend on the handler, which itself
 * hands what hosts report to those same services.
 */
export class AgentSessions<S extends SessionSocket = SessionSocket> {
  private readonly byNode = new Map<string, S>();

  constructor(
    private readonly presence: SessionPresence,
    private readonly remote: RemoteFrames,
    /** Called when a session's count changes (gateway stats). */
    private readonly onCount: (n: number) => void = () => undefined,
  ) {}

  hasSession(nodeId: string): boolean {
    return this.byNode.has(nodeId);
  }

  get sessionCount(): number {
    return this.byNode.size;
  }

  get(nodeId: string): S | undefined {
    return this.byNode.get(nodeId);
  }

  /** Takes a newly authenticated session; returns the one it replaces, if any. */
  set(nodeId: string, session: S): S | undefined {
    const previous = this.byNode.get(nodeId);
    this.byNode.set(nodeId, session);
    this.onCount(this.byNode.size);
    this.presence.claim(nodeId);
    return previous;
  }

  /** Forgets a session, only if it is still the node's current one. */
  delete(nodeId: string, session: S): void {
    if (this.byNode.get(nodeId) !== session) return;
    this.byNode.delete(nodeId);
    this.onCount(this.byNode.size);
    this.presence.release(nodeId);
  }

  /**
   * Sends a frame to a node's live session; false when the node has none (the caller records the
   * target as unreachable or retries later). Used for commands, cancels and trust updates.
   */
  sendToNode(nodeId: string, frame: ServerFrame): boolean {
    return this.sendSerialized(nodeId, JSON.stringify(frame));
  }

  /**
   * Sends a frame serialised once by the caller: a fan-out sends the same command to thousands of
   * nodes, and JSON.stringify per node was a visible share of the server's time.
   */
  sendSerialized(nodeId: string, text: string): boolean {
    const session = this.byNode.get(nodeId);
    if (session === undefined) {
      // Held by another replica: it goes there. At most once, as a socket send is: a frame lost
      // with a dying replica is sent again when the host's session is ready on another one.
      const holder = this.presence.liveHolderElsewhere(nodeId);
      if (holder === null) return false;
      this.remote.send(holder, nodeId, text);
      return true;
    }
    if (session.socket.readyState !== 1) return false;
    session.socket.send(text);
    return true;
  }

  /** Sends a frame that arrived from another replica to a session held here; false when it is not. */
  deliverLocal(nodeId: string, text: string): boolean {
    const session = this.byNode.get(nodeId);
    if (session?.socket.readyState !== 1) return false;
    session.socket.send(text);
    return true;
  }

  /** Ids of the nodes with a live session right now. */
  connectedNodeIds(): string[] {
    return [...this.byNode.keys()];
  }

  /** Closes a node's session, e.g. when an operator removes the node. */
  disconnect(nodeId: string, code: number, reason: string): void {
    this.byNode.get(nodeId)?.socket.close(code, reason);
  }

  closeAll(): void {
    for (const s of this.byNode.values()) s.socket.close(CLOSE_CODES.goingAway, 'server shutting down');
  }
}
