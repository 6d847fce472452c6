/**
 * The bus between control-plane replicas (issue 13). Transport-neutral: an in-process
 * implementation serves the single-process mode, a NATS one serves several replicas, and both
 * pass one contract suite (__tests__/bus-contract.ts).
 *
 * Three channels, each with its own guarantees:
 * - core pub/sub: at most once, latest wins; for live views that can reload from the store.
 * - durable streams: stored, at least once, acked after the handler; for work that must survive
 *   a replica dying. Durable subjects are a namespace of their own: `publish` never reaches a
 *   durable consumer and `durablePublish` never reaches a core subscriber.
 * - key-value with a TTL: session ownership and leases, with compare-and-set on revisions.
 *
 * Subjects are dot-separated tokens (NATS syntax); patterns may use `*` for one token and `>` as
 * the last token for one or more. The bus puts its deployment namespace in front on the wire, so
 * callers never see it. Bad input is refused with a FleetError ('invalid_argument', or
 * 'payload_too_large'); every call after close() with 'unavailable'.
 */

/** Bytes, or a JSON object or array the bus encodes: receivers get a copy, never the object. */
export type BusData = Uint8Array | object;

/** Encoded payloads above this are refused with 'payload_too_large' unless a bus sets its own limit. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024;

/** A message as a handler sees it. */
export interface BusMessage {
  /** The subject it was published on, without the bus namespace. */
  readonly subject: string;
  readonly data: Uint8Array;
  /** The data parsed as JSON; FleetError 'invalid_argument' when it is not JSON. */
  json<T = unknown>(): T;
}

/** A message of a durable stream. */
export interface DurableMessage extends BusMessage {
  /** Its place in the stream: increases with every message stored. */
  readonly seq: number;
  /** The id it was published with, for idempotent effects. */
  readonly msgId: string;
  /** 1 on the first delivery, more after a handler threw or a replica died holding it. */
  readonly deliveryCount: number;
}

export type MessageHandler = (msg: BusMessage) => void;
export type DurableHandler = (msg: DurableMessage) => Promise<void>;

/** What durablePublish says once the stream has the message. */
export interface PublishReceipt {
  /** The stream sequence: of the original message when this one was a duplicate. */
  seq: number;
  /** True when the msgId was seen within the dedupe window: nothing new was stored. */
  duplicate: boolean;
}

export interface DurableConsumeOptions {
  /**
   * How long a delivered message may stay unacked before another instance gets it (default 30 s).
   * A running handler keeps its message however long it takes; this bounds how long a message
   * held by a replica that died waits. Shared by all instances of a consumer name.
   */
  ackWaitMs?: number;
  /** How long a message whose handler threw waits before it is delivered again (default 1 s). */
  retryDelayMs?: number;
  /** Messages this instance handles at once (default 1: one after another). */
  concurrency?: number;
}

/** One running instance of a durable consumer. */
export interface DurableConsumer {
  /**
   * Takes no more messages, waits for the handlers running now and acks what they finished.
   * The consumer name keeps its place: a new instance of it continues where this one stopped.
   */
  stop(): Promise<void>;
}

export interface KvOptions {
  /** Entries expire this long after their last write (a renewal is an update); absent: never. */
  ttlMs?: number;
}

export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Changes with every write to the bucket; pass it to update() or delete() for compare-and-set. */
  readonly revision: number;
  json<T = unknown>(): T;
}

/** A write seen by a watcher. Expiry is not reported: a lapsed entry simply reads as null. */
export interface KvChange {
  readonly key: string;
  readonly op: 'put' | 'delete';
  readonly revision: number;
  /** The new value for 'put', null for 'delete'. */
  readonly value: Uint8Array | null;
}

/**
 * A bucket of keys with compare-and-set writes, for session ownership and leases. Keys are
 * dot-separated tokens of letters, digits, '_', '-' and '=' (see subjects.ts for node ids).
 */
export interface BusKv {
  /** The live entry, or null when the key was never written, was deleted or expired. */
  get(key: string): Promise<KvEntry | null>;
  /** Writes a key that has no live entry; FleetError 'already_exists' when it has. */
  create(key: string, value: BusData): Promise<number>;
  /** Writes a key whose last revision is expectedRevision; FleetError 'conflict' otherwise. */
  update(key: string, value: BusData, expectedRevision: number): Promise<number>;
  /** Deletes a key; with expectedRevision only if that is still its last revision ('conflict' otherwise). */
  delete(key: string, expectedRevision?: number): Promise<void>;
  /** The keys with a live entry, in no particular order. */
  keys(): Promise<string[]>;
  /**
   * Every live entry, in no particular order: one read of the whole bucket, where keys() and a
   * get() per key would cost a request per key (100,000 session owners at a replica's start).
   */
  entries(): Promise<KvEntry[]>;
  /** Calls handler for every write from now on; resolves once watching. Returns stop. */
  watch(handler: (change: KvChange) => void): Promise<() => Promise<void>>;
}

export interface Bus {
  /** Core pub/sub: at most once, to the subscribers listening now. Throws a FleetError on bad input. */
  publish(subject: string, data: BusData): void;
  /** Resolves once the subscription is active everywhere; returns unsubscribe. */
  subscribe(pattern: string, handler: MessageHandler): Promise<() => void>;

  /**
   * Stores a message in the durable stream; resolves once stored. A msgId seen within the dedupe
   * window (2 minutes unless the bus is told otherwise) is stored once, and the receipt says so.
   */
  durablePublish(subject: string, data: BusData, msgId: string): Promise<PublishReceipt>;
  /**
   * Delivers the stored messages matching filter to handler, each to one instance of the consumer
   * name across all replicas, starting after the last one acked under that name (for a new name,
   * with the oldest message still stored: JetStream keeps messages for the max age, the
   * in-process bus forgets one once every name that matches it has acked it). A message is acked
   * once handler resolves; one whose handler throws is delivered again after retryDelayMs. At
   * least once: effects must be idempotent.
   */
  durableConsume(consumerName: string, filter: string, handler: DurableHandler, options?: DurableConsumeOptions): Promise<DurableConsumer>;

  /** Opens a bucket, creating it or changing its TTL as needed. */
  kv(bucket: string, options?: KvOptions): Promise<BusKv>;

  /**
   * Stops subscriptions and watchers, stops consumers (waiting a bounded time for running
   * handlers), then lets go of the transport. Messages whose handlers had not finished go to
   * another instance after the ack wait.
   */
  close(): Promise<void>;
}

/** Where the bus reports handler failures. */
export interface BusLog {
  warn(obj: object, msg: string): void;
}
