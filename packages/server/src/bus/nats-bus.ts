import { type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { FleetError } from '@gpufleet/protocol';
import type { Bus, BusData, BusKv, DurableConsumeOptions, DurableConsumer, DurableHandler, KvOptions, MessageHandler, PublishReceipt } from './bus.js';
import { checkMsgId, checkName, checkPattern, checkSubject } from './bus-names.js';
import { type ConsumeSettings, resolveConsumeOptions, resolveKvOptions } from './bus-options.js';
import { busMessage, durableMessage, encodeData } from './bus-payload.js';
import { type NatsBusConfig, type NatsBusOptions, resolveNatsBusOptions } from './nats-bus-options.js';
import { natsKv } from './nats-kv.js';
import { ensureDurableConsumer, ensureDurableStream, HEADER_ROOM, openBucket } from './nats-provisioning.js';

export type { NatsBusOptions } from './nats-bus-options.js';

/** How long one pull waits for messages before the next is sent. */
const FETCH_EXPIRES_MS = 10_000;
/** How long a consumer waits after a failed pull (NATS away, consumer gone) before the next. */
const FETCH_RETRY_MS = 1_000;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function unavailable(what: string, err: unknown): FleetError {
  return FleetError.is(err) ? err : new FleetError('unavailable', `NATS ${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * The bus over NATS: core subjects for pub/sub, one JetStream stream for the durable channel,
 * JetStream KV for buckets. On the wire a core subject is `<namespace>.live.<subject>` and a
 * durable one `<namespace>.durable.<subject>`; the stream is `<namespace>_durable` and a bucket
 * `<namespace>_<bucket>`. connect() creates or updates them, so replicas starting together agree.
 */
export class NatsBus implements Bus {
  private readonly closers = new Set<() => Promise<void>>();
  private closed = false;
  private readonly liveRoot: string;
  private readonly durableRoot: string;
  private readonly streamName: string;
  private readonly kvm: Kvm;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly config: NatsBusConfig,
  ) {
    this.liveRoot = `${config.namespace}.live.`;
    this.durableRoot = `${config.namespace}.durable.`;
    this.streamName = `${config.namespace}_durable`;
    this.kvm = new Kvm(js);
  }

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const config = resolveNatsBusOptions(options);
    let nc: NatsConnection;
    try {
      // Reconnect for ever: a replica outlives a NATS restart, with the client buffering meanwhile.
      nc = await connect({ servers: config.servers, name: config.name, timeout: config.connectTimeoutMs, maxReconnectAttempts: -1 });
    } catch (err) {
      throw new FleetError('unavailable', `cannot reach NATS at ${config.servers.join(', ')}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const serverMax = nc.info?.max_payload;
      if (serverMax !== undefined) config.maxPayloadBytes = Math.min(config.maxPayloadBytes, serverMax - HEADER_ROOM);
      const jsm = await jetstreamManager(nc);
      const bus = new NatsBus(nc, jetstream(nc), jsm, config);
      await ensureDurableStream(jsm, bus.streamName, [`${bus.durableRoot}>`], config);
      return bus;
    } catch (err) {
      await nc.close();
      throw unavailable('JetStream setup', err);
    }
  }

  /** The payload limit in force: the configured one, lowered to what the server takes. */
  get maxPayloadBytes(): number {
    return this.config.maxPayloadBytes;
  }

  publish(subject: string, data: BusData): void {
    this.ensureOpen();
    checkSubject(subject);
    this.nc.publish(this.liveRoot + subject, encodeData(data, this.config.maxPayloadBytes));
  }

  async subscribe(pattern: string, handler: MessageHandler): Promise<() => void> {
    this.ensureOpen();
    checkPattern(pattern);
    const sub = this.nc.subscribe(this.liveRoot + pattern, {
      callback: (err, msg) => {
        if (err) {
          this.config.log?.warn({ err, pattern }, 'a bus subscription failed');
          return;
        }
        try {
          handler(busMessage(msg.subject.slice(this.liveRoot.length), msg.data));
        } catch (e) {
          this.config.log?.warn({ err: e, subject: msg.subject }, 'a bus subscriber threw');
        }
      },
    });
    // The server knows of the subscription once the flush returns: publishers on other
    // connections reach it from then on.
    await this.nc.flush();
    const closer = async () => unsubscribe();
    const unsubscribe = () => {
      this.closers.delete(closer);
      if (!sub.isClosed()) sub.unsubscribe();
    };
    this.closers.add(closer);
    return unsubscribe;
  }

  async durablePublish(subject: string, data: BusData, msgId: string): Promise<PublishReceipt> {
    this.ensureOpen();
    checkSubject(subject);
    checkMsgId(msgId);
    const bytes = encodeData(data, this.config.maxPayloadBytes);
    try {
      const ack = await this.js.publish(this.durableRoot + subject, bytes, { msgID: msgId });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw unavailable('durable publish', err);
    }
  }

  async durableConsume(consumerName: string, filter: string, handler: DurableHandler, options?: DurableConsumeOptions): Promise<DurableConsumer> {
    this.ensureOpen();
    checkName('consumer name', consumerName);
    checkPattern(filter);
    const settings = resolveConsumeOptions(options);
    let consumer: Consumer;
    try {
      await ensureDurableConsumer(this.jsm, this.streamName, consumerName, this.durableRoot + filter, settings.ackWaitMs);
      consumer = await this.js.consumers.get(this.streamName, consumerName);
    } catch (err) {
      throw unavailable(`consumer '${consumerName}'`, err);
    }
    const running = new Set<Promise<void>>();
    let stopping = false;
    void (async () => {
      while (!stopping && !this.nc.isClosed()) {
        if (running.size >= settings.concurrency) {
          await Promise.race(running);
          continue;
        }
        try {
          // Ask for no more than there are free handlers: a message waiting in this replica's
          // buffer could be running on another replica, and would go there twice once its ack
          // wait passed (consume() keeps pulling whatever the handlers do, so it is not used).
          const batch = await consumer.fetch({ max_messages: settings.concurrency - running.size, expires: FETCH_EXPIRES_MS });
          if (stopping) {
            // The pull request goes out when the batch is first iterated: closing now sends none.
            void batch.close();
            break;
          }
          for await (const m of batch) {
            // A pull out when stop() came is not cut short: a message the server sends to an
            // inbox already closed would wait out the ack wait (NATS 2.9 does not always notice
            // the listener left). It runs out in the background, handing back what arrives.
            if (stopping) {
              m.nak();
              continue;
            }
            const run = this.handleDurable(m, handler, consumerName, settings).finally(() => running.delete(run));
            running.add(run);
          }
        } catch (err) {
          if (stopping || this.nc.isClosed()) break;
          this.config.log?.warn({ err, consumer: consumerName }, 'a durable fetch failed; trying again');
          await delay(FETCH_RETRY_MS);
        }
      }
    })().catch((err) => this.config.log?.warn({ err, consumer: consumerName }, 'a durable consumer stopped on an error'));

    let stopped: Promise<void> | undefined;
    const stop = () => {
      stopped ??= (async () => {
        stopping = true;
        this.closers.delete(stop);
        // Handlers started before stop() finish and ack; the pump starts no more.
        await Promise.all(running);
      })();
      return stopped;
    };
    this.closers.add(stop);
    return { stop };
  }

  async kv(bucket: string, options?: KvOptions): Promise<BusKv> {
    this.ensureOpen();
    checkName('bucket', bucket);
    const { ttlMs } = resolveKvOptions(options);
    let kv: KV;
    try {
      kv = await openBucket(this.jsm, this.kvm, `${this.config.namespace}_${bucket}`, ttlMs, this.config);
    } catch (err) {
      throw unavailable(`KV bucket '${bucket}'`, err);
    }
    return natsKv(kv, bucket, {
      ensureOpen: () => this.ensureOpen(),
      maxPayloadBytes: this.config.maxPayloadBytes,
      log: this.config.log,
      track: (stop) => {
        this.closers.add(stop);
        return () => this.closers.delete(stop);
      },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopping = Promise.all([...this.closers].map((close) => close()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.drainTimeoutMs)));
    await Promise.race([stopping, timeout]);
    clearTimeout(timer);
    // Acks of handlers still running now are lost with the connection: JetStream hands their
    // messages to another replica after the ack wait.
    await this.nc.close();
  }

  /** Runs one durable handler: keeps the message while it runs, acks after, or asks for it again later. */
  private async handleDurable(m: JsMsg, handler: DurableHandler, consumerName: string, settings: ConsumeSettings): Promise<void> {
    const keepAlive = setInterval(
      () => {
        // Once the connection is gone the ack wait decides; a handler that never ends must not keep this going.
        try {
          if (this.nc.isClosed()) clearInterval(keepAlive);
          else m.working();
        } catch {
          clearInterval(keepAlive);
        }
      },
      Math.floor(settings.ackWaitMs / 3),
    );
    let handled = false;
    try {
      const msgId = m.headers?.get('Nats-Msg-Id') ?? '';
      await handler(durableMessage(m.subject.slice(this.durableRoot.length), m.data, { seq: m.seq, msgId, deliveryCount: m.info.deliveryCount }));
      handled = true;
    } catch (err) {
      this.config.log?.warn({ err, consumer: consumerName, subject: m.subject, seq: m.seq }, 'a durable handler threw; the message will come again');
    } finally {
      clearInterval(keepAlive);
    }
    try {
      // ackAck waits for the server: once stop() returns, a new instance cannot get this again.
      if (handled) await m.ackAck();
      else m.nak(settings.retryDelayMs);
    } catch {
      // The connection is gone: JetStream delivers the message again after the ack wait.
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new FleetError('unavailable', 'the bus is closed');
  }
}
