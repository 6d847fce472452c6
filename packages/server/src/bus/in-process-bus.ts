import { FleetError } from '@gpufleet/protocol';
import { type Clock, systemClock } from '../clock.js';
import {
  type Bus,
  type BusData,
  type BusKv,
  type BusLog,
  type DurableConsumeOptions,
  type DurableConsumer,
  type DurableHandler,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type KvOptions,
  type MessageHandler,
  type PublishReceipt,
} from './bus.js';
import { checkKey, checkMsgId, checkName, checkPattern, checkRevision, checkSubject, refuseUnknownKeys, subjectMatches, wholeOption } from './bus-names.js';
import { busMessage, encodeData } from './bus-payload.js';
import { resolveConsumeOptions, resolveKvOptions } from './bus-options.js';
import { MemoryBucket } from './in-process-kv.js';
import { type DeliveryOutcome, MemoryStream, type StreamAttachment } from './in-process-stream.js';

export interface InProcessBrokerOptions {
  /** Judges KV TTLs, the dedupe window and the stream's max age (default: the system clock). */
  clock?: Clock;
  /** How long a durable msgId is remembered for dedupe (default 2 minutes, as JetStream's). */
  dedupeWindowMs?: number;
  /** How long a durable message no consumer name has acked is kept (default 7 days). */
  maxAgeMs?: number;
  log?: BusLog;
}

/**
 * The state several in-process buses share: what the NATS server is for the NATS bus. One broker
 * with two buses on it stands for two replicas, which is how the contract suite tests queue
 * semantics and a replica dying.
 */
export class InProcessBroker {
  readonly clock: Clock;
  readonly stream: MemoryStream;
  readonly buckets = new Map<string, MemoryBucket>();
  readonly subscriptions = new Set<{ pattern: string; deliver: (subject: string, data: Uint8Array) => void }>();
  readonly log: BusLog | undefined;

  constructor(options: InProcessBrokerOptions = {}) {
    refuseUnknownKeys('in-process broker options', options, ['clock', 'dedupeWindowMs', 'maxAgeMs', 'log']);
    this.clock = options.clock ?? systemClock;
    this.log = options.log;
    this.stream = new MemoryStream({
      clock: this.clock,
      dedupeWindowMs: wholeOption('dedupeWindowMs', options.dedupeWindowMs, 120_000),
      maxAgeMs: wholeOption('maxAgeMs', options.maxAgeMs, 7 * 24 * 3_600_000),
    });
  }
}

export interface InProcessBusOptions {
  /** The shared state; absent: a broker of its own (the single-process mode). */
  broker?: InProcessBroker;
  /** For a broker of its own; with `broker` given, that broker's clock holds. */
  clock?: Clock;
  /** Encoded payloads above this are refused (default 512 KiB). */
  maxPayloadBytes?: number;
  /** How long close() waits for running durable handlers (default 10 s). */
  drainTimeoutMs?: number;
  log?: BusLog;
}

/** The bus of the single-process mode: everything in memory, nothing survives the process. */
export class InProcessBus implements Bus {
  private readonly broker: InProcessBroker;
  private readonly maxPayloadBytes: number;
  private readonly drainTimeoutMs: number;
  private readonly log: BusLog | undefined;
  private readonly unsubscribes = new Set<() => void>();
  private readonly consumers = new Set<DurableConsumer>();
  private closed = false;
  /** Settles 'abandon' once close() gives up on running handlers, so their messages go back. */
  private giveUp!: (outcome: 'abandon') => void;
  private readonly givenUp = new Promise<'abandon'>((resolve) => (this.giveUp = resolve));

  constructor(options: InProcessBusOptions = {}) {
    refuseUnknownKeys('in-process bus options', options, ['broker', 'clock', 'maxPayloadBytes', 'drainTimeoutMs', 'log']);
    this.broker = options.broker ?? new InProcessBroker({ clock: options.clock, log: options.log });
    this.maxPayloadBytes = wholeOption('maxPayloadBytes', options.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES);
    this.drainTimeoutMs = wholeOption('drainTimeoutMs', options.drainTimeoutMs, 10_000, 0);
    this.log = options.log ?? this.broker.log;
  }

  publish(subject: string, data: BusData): void {
    this.ensureOpen();
    checkSubject(subject);
    const bytes = encodeData(data, this.maxPayloadBytes);
    for (const sub of this.broker.subscriptions) {
      if (subjectMatches(sub.pattern, subject)) sub.deliver(subject, bytes);
    }
  }

  async subscribe(pattern: string, handler: MessageHandler): Promise<() => void> {
    this.ensureOpen();
    checkPattern(pattern);
    const sub = {
      pattern,
      // Handlers run after publish returns, in publish order, as they would over NATS.
      deliver: (subject: string, data: Uint8Array) =>
        queueMicrotask(() => {
          if (!this.broker.subscriptions.has(sub)) return;
          try {
            handler(busMessage(subject, data));
          } catch (err) {
            this.log?.warn({ err, subject }, 'a bus subscriber threw');
          }
        }),
    };
    this.broker.subscriptions.add(sub);
    const unsubscribe = () => {
      this.broker.subscriptions.delete(sub);
      this.unsubscribes.delete(unsubscribe);
    };
    this.unsubscribes.add(unsubscribe);
    return unsubscribe;
  }

  async durablePublish(subject: string, data: BusData, msgId: string): Promise<PublishReceipt> {
    this.ensureOpen();
    checkSubject(subject);
    checkMsgId(msgId);
    return this.broker.stream.append(subject, encodeData(data, this.maxPayloadBytes), msgId);
  }

  async durableConsume(consumerName: string, filter: string, handler: DurableHandler, options?: DurableConsumeOptions): Promise<DurableConsumer> {
    this.ensureOpen();
    checkName('consumer name', consumerName);
    checkPattern(filter);
    const o = resolveConsumeOptions(options);
    const running = new Set<Promise<DeliveryOutcome>>();
    const attachment: StreamAttachment = {
      concurrency: o.concurrency,
      retryDelayMs: o.retryDelayMs,
      handle: (msg) => {
        const run = (async (): Promise<DeliveryOutcome> => {
          await Promise.resolve(); // never inside the publisher's call
          try {
            await handler(msg);
            return 'ack';
          } catch (err) {
            this.log?.warn({ err, consumer: consumerName, subject: msg.subject, seq: msg.seq }, 'a durable handler threw; the message will come again');
            return 'retry';
          }
        })();
        running.add(run);
        void run.then(() => running.delete(run));
        return Promise.race([run, this.givenUp]);
      },
    };
    this.broker.stream.attach(consumerName, filter, o.ackWaitMs, attachment);
    let stopping: Promise<void> | undefined;
    const consumer: DurableConsumer = {
      stop: () => {
        stopping ??= (async () => {
          this.broker.stream.detach(consumerName, attachment);
          await Promise.race([Promise.all(running), this.givenUp]);
          this.consumers.delete(consumer);
        })();
        return stopping;
      },
    };
    this.consumers.add(consumer);
    return consumer;
  }

  async kv(bucket: string, options?: KvOptions): Promise<BusKv> {
    this.ensureOpen();
    checkName('bucket', bucket);
    const { ttlMs } = resolveKvOptions(options);
    let store = this.broker.buckets.get(bucket);
    if (!store) {
      store = new MemoryBucket(bucket, this.broker.clock, ttlMs, this.log);
      this.broker.buckets.set(bucket, store);
    }
    store.ttlMs = ttlMs;
    return this.kvView(store);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const unsubscribe of [...this.unsubscribes]) unsubscribe();
    const stops = Promise.all([...this.consumers].map((c) => c.stop()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.drainTimeoutMs)));
    await Promise.race([stops, timeout]);
    clearTimeout(timer);
    this.giveUp('abandon');
  }

  private kvView(store: MemoryBucket): BusKv {
    const encode = (value: BusData) => encodeData(value, this.maxPayloadBytes);
    const revision = (r: number | undefined) => (r === undefined ? undefined : checkRevision(r));
    return {
      get: async (key) => {
        this.ensureOpen();
        return store.get(checkKey(key));
      },
      create: async (key, value) => {
        this.ensureOpen();
        return store.create(checkKey(key), encode(value));
      },
      update: async (key, value, expectedRevision) => {
        this.ensureOpen();
        return store.update(checkKey(key), encode(value), checkRevision(expectedRevision));
      },
      delete: async (key, expectedRevision) => {
        this.ensureOpen();
        store.delete(checkKey(key), revision(expectedRevision));
      },
      keys: async () => {
        this.ensureOpen();
        return store.keys();
      },
      entries: async () => {
        this.ensureOpen();
        return store.entries();
      },
      watch: async (handler) => {
        this.ensureOpen();
        const stop = store.watch(handler);
        this.unsubscribes.add(stop);
        return async () => {
          stop();
          this.unsubscribes.delete(stop);
        };
      },
    };
  }

  private ensureOpen(): void {
    if (this.closed) throw new FleetError('unavailable', 'the bus is closed');
  }
}
