import type { Clock } from '../clock.js';
import type { DurableMessage, PublishReceipt } from './bus.js';
import { subjectMatches } from './bus-names.js';
import { durableMessage } from './bus-payload.js';

/**
 * The durable stream of the in-process bus: what JetStream does for the NATS bus, in memory.
 * Messages get increasing sequence numbers; a consumer name (a group) keeps a cursor and the
 * messages it has delivered but not had acked, and hands each message to one attached instance.
 *
 * Unlike JetStream, a message is forgotten as soon as every group whose filter matches has acked
 * it (besides after maxAgeMs), so a long-running single process does not grow; a consumer name
 * first used later does not see those.
 */

/** How a delivery ended: acked, to be retried after the instance's delay, or left by a dying bus. */
export type DeliveryOutcome = 'ack' | 'retry' | 'abandon';

/** One running consumer instance, as the stream sees it. */
export interface StreamAttachment {
  readonly concurrency: number;
  readonly retryDelayMs: number;
  /** Runs the handler; resolves with how the delivery ended. Never rejects. */
  handle(msg: DurableMessage): Promise<DeliveryOutcome>;
}

interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  msgId: string;
  storedAt: number;
}

interface Group {
  filter: string;
  ackWaitMs: number;
  /** The last sequence looked at for first deliveries. */
  cursor: number;
  /** Sequences due for another delivery, ascending. */
  ready: number[];
  /** Sequences delivered or due, not acked yet. */
  unacked: Set<number>;
  deliveries: Map<number, number>;
  instances: Array<{ attachment: StreamAttachment; busy: number }>;
  /** Where the round-robin over instances goes on. */
  turn: number;
}

export interface MemoryStreamOptions {
  clock: Clock;
  dedupeWindowMs: number;
  maxAgeMs: number;
}

export class MemoryStream {
  private readonly messages = new Map<number, StoredMessage>();
  private readonly dedupe = new Map<string, { seq: number; at: number }>();
  private readonly groups = new Map<string, Group>();
  private lastSeq = 0;

  constructor(private readonly o: MemoryStreamOptions) {}

  append(subject: string, data: Uint8Array, msgId: string): PublishReceipt {
    const now = this.o.clock.now();
    this.forgetOld(now);
    const seen = this.dedupe.get(msgId);
    if (seen) return { seq: seen.seq, duplicate: true };
    const seq = ++this.lastSeq;
    this.messages.set(seq, { seq, subject, data, msgId, storedAt: now });
    this.dedupe.set(msgId, { seq, at: now });
    for (const group of this.groups.values()) this.pump(group);
    return { seq, duplicate: false };
  }

  /** Adds an instance to a consumer name, creating the name (at the start of the stream) if new. */
  attach(name: string, filter: string, ackWaitMs: number, attachment: StreamAttachment): void {
    let group = this.groups.get(name);
    if (!group) {
      group = { filter, ackWaitMs, cursor: 0, ready: [], unacked: new Set(), deliveries: new Map(), instances: [], turn: 0 };
      this.groups.set(name, group);
    }
    // Like a JetStream consumer whose config is updated: the latest instance's settings hold.
    group.filter = filter;
    group.ackWaitMs = ackWaitMs;
    group.instances.push({ attachment, busy: 0 });
    this.pump(group);
  }

  /** Takes an instance off its consumer name; what it is handling now still ends as it ends. */
  detach(name: string, attachment: StreamAttachment): void {
    const group = this.groups.get(name);
    if (group) group.instances = group.instances.filter((i) => i.attachment !== attachment);
  }

  private pump(group: Group): void {
    for (;;) {
      const instance = this.idleInstance(group);
      if (!instance) return;
      const stored = this.nextFor(group);
      if (!stored) return;
      const deliveryCount = (group.deliveries.get(stored.seq) ?? 0) + 1;
      group.deliveries.set(stored.seq, deliveryCount);
      instance.busy++;
      const msg = durableMessage(stored.subject, stored.data, { seq: stored.seq, msgId: stored.msgId, deliveryCount });
      void instance.attachment.handle(msg).then((outcome) => {
        instance.busy--;
        this.settle(group, stored, outcome, instance.attachment.retryDelayMs);
        this.pump(group);
      });
    }
  }

  private idleInstance(group: Group): Group['instances'][number] | undefined {
    const n = group.instances.length;
    for (let i = 0; i < n; i++) {
      const candidate = group.instances[(group.turn + i) % n]!;
      if (candidate.busy < candidate.attachment.concurrency) {
        group.turn = (group.turn + i + 1) % n;
        return candidate;
      }
    }
    return undefined;
  }

  private nextFor(group: Group): StoredMessage | undefined {
    while (group.ready.length > 0) {
      const seq = group.ready.shift()!;
      const stored = this.messages.get(seq);
      if (stored) return stored;
      this.forgetFor(group, seq); // aged out while it waited
    }
    while (group.cursor < this.lastSeq) {
      const stored = this.messages.get(++group.cursor);
      if (stored && subjectMatches(group.filter, stored.subject)) {
        group.unacked.add(stored.seq);
        return stored;
      }
    }
    return undefined;
  }

  private settle(group: Group, stored: StoredMessage, outcome: DeliveryOutcome, retryDelayMs: number): void {
    if (outcome === 'ack') {
      this.forgetFor(group, stored.seq);
      this.forgetIfDone(stored);
      return;
    }
    // A retry waits the instance's delay; a message a dying bus held waits the ack wait, as it
    // would on JetStream, where nobody could tell the server it was given up.
    const delay = outcome === 'retry' ? retryDelayMs : group.ackWaitMs;
    setTimeout(() => {
      if (!group.unacked.has(stored.seq)) return;
      const at = group.ready.findIndex((s) => s > stored.seq);
      group.ready.splice(at === -1 ? group.ready.length : at, 0, stored.seq);
      this.pump(group);
    }, delay).unref();
  }

  private forgetFor(group: Group, seq: number): void {
    group.unacked.delete(seq);
    group.deliveries.delete(seq);
  }

  /** Drops a message once every consumer name that would get it has acked it. */
  private forgetIfDone(stored: StoredMessage): void {
    for (const group of this.groups.values()) {
      if (!subjectMatches(group.filter, stored.subject)) continue;
      if (group.cursor < stored.seq || group.unacked.has(stored.seq)) return;
    }
    this.messages.delete(stored.seq);
  }

  private forgetOld(now: number): void {
    for (const [msgId, seen] of this.dedupe) {
      if (seen.at + this.o.dedupeWindowMs > now) break;
      this.dedupe.delete(msgId);
    }
    for (const [seq, stored] of this.messages) {
      if (stored.storedAt + this.o.maxAgeMs > now) break;
      this.messages.delete(seq);
    }
  }
}
