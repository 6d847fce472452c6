import type { Bus } from '../bus/bus.js';
import { subjects } from '../bus/subjects.js';
import type { RemoteFrames } from '../gateway/agent-sessions.js';

export interface FrameRelayOptions {
  bus: Bus;
  replica: string;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Frames between replicas: a replica sending to a node whose session another replica holds
 * publishes the serialised frame on that replica's subject, and each replica hands what arrives
 * on its own subject to the local session. Core NATS, at most once like the socket itself: what
 * must not be lost is sent again when the host's session is ready (runs, allocations, trust).
 */
export class FrameRelay implements RemoteFrames {
  /** Frames that arrived for a node no longer held here (it moved meanwhile). */
  dropped = 0;
  relayed = 0;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly o: FrameRelayOptions) {}

  /** Starts taking frames for this replica's sessions; deliver says whether one was sent. */
  async start(deliver: (nodeId: string, text: string) => boolean): Promise<void> {
    this.unsubscribe = await this.o.bus.subscribe(subjects.replicaFrames(this.o.replica), (msg) => {
      const m = msg.json<{ nodeId?: unknown; text?: unknown }>();
      if (typeof m.nodeId !== 'string' || typeof m.text !== 'string') return;
      if (deliver(m.nodeId, m.text)) this.relayed++;
      else this.dropped++;
    });
  }

  send(replica: string, nodeId: string, text: string): void {
    try {
      this.o.bus.publish(subjects.replicaFrames(replica), { nodeId, text });
    } catch (err) {
      this.o.log.warn({ nodeId, replica, err: (err as Error).message }, 'could not relay a frame to the replica holding the session');
    }
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}
