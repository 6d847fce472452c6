import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { KV, Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';
import type { NatsBusConfig } from './nats-bus-options.js';

/**
 * Creates the JetStream stream, consumers and KV buckets the NATS bus needs, or brings existing
 * ones to the asked configuration. Idempotent, and safe when replicas starting together race.
 */

/** Room for the headers (message id, expected revision) NATS counts into its max_payload. */
export const HEADER_ROOM = 1024;

// JetStream's "stream name already in use" (not among the client's named codes).
const STREAM_NAME_IN_USE = 10058;

const isApiError = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

type Settings = Pick<NatsBusConfig, 'storage' | 'replicas' | 'maxAgeMs' | 'dedupeWindowMs' | 'maxPayloadBytes'>;

const storageOf = (settings: Pick<Settings, 'storage'>) => (settings.storage === 'memory' ? StorageType.Memory : StorageType.File);

/** Creates the durable stream over subjects, or brings an existing one to these settings. */
export async function ensureDurableStream(jsm: JetStreamManager, name: string, subjects: string[], settings: Settings): Promise<void> {
  const wanted: Partial<StreamConfig> = {
    subjects,
    retention: RetentionPolicy.Limits,
    storage: storageOf(settings),
    num_replicas: settings.replicas,
    max_age: nanos(settings.maxAgeMs),
    duplicate_window: nanos(Math.min(settings.dedupeWindowMs, settings.maxAgeMs)),
    max_msg_size: settings.maxPayloadBytes + HEADER_ROOM,
    discard: DiscardPolicy.Old,
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const c = (await jsm.streams.info(name)).config;
      if (c.max_age !== wanted.max_age || c.duplicate_window !== wanted.duplicate_window || c.max_msg_size !== wanted.max_msg_size) {
        // Storage and replicas cannot change in place; the rest follows the latest replica's config.
        await jsm.streams.update(name, { max_age: wanted.max_age, duplicate_window: wanted.duplicate_window, max_msg_size: wanted.max_msg_size });
      }
      return;
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    }
    try {
      await jsm.streams.add({ name, ...wanted });
      return;
    } catch (err) {
      // Another replica created it in between: look again.
      if (!isApiError(err, STREAM_NAME_IN_USE) || attempt > 0) throw err;
    }
  }
}

/** Creates a durable pull consumer, or updates its filter and ack wait to these. */
export async function ensureDurableConsumer(jsm: JetStreamManager, stream: string, name: string, filterSubject: string, ackWaitMs: number): Promise<void> {
  const ackWait = nanos(ackWaitMs);
  try {
    const { config } = await jsm.consumers.info(stream, name);
    if (config.filter_subject !== filterSubject || config.ack_wait !== ackWait) {
      await jsm.consumers.update(stream, name, { filter_subject: filterSubject, ack_wait: ackWait });
    }
    return;
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
  }
  // Creating with the same configuration twice is fine, so replicas may race here.
  await jsm.consumers.add(stream, {
    durable_name: name,
    filter_subject: filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ackWait,
    max_deliver: -1,
  });
}

/**
 * Opens a KV bucket with history 1 and max_age = ttlMs (none when absent), creating it or moving
 * an existing bucket's TTL to this one.
 */
export async function openBucket(jsm: JetStreamManager, kvm: Kvm, name: string, ttlMs: number | undefined, settings: Settings): Promise<KV> {
  const options = {
    history: 1,
    ttl: ttlMs ?? 0,
    storage: storageOf(settings),
    replicas: settings.replicas,
    maxValueSize: settings.maxPayloadBytes + HEADER_ROOM,
  };
  let kv: KV;
  try {
    kv = await kvm.create(name, options);
  } catch (err) {
    // Another replica created it in between; now it opens.
    if (!isApiError(err, STREAM_NAME_IN_USE)) throw err;
    kv = await kvm.create(name, options);
  }
  const stream = `KV_${name}`;
  const { config } = await jsm.streams.info(stream);
  const maxAge = ttlMs === undefined ? 0 : nanos(ttlMs);
  if (config.max_age !== maxAge) {
    // The dedupe window may not be longer than the max age.
    const window = config.duplicate_window;
    await jsm.streams.update(stream, { max_age: maxAge, duplicate_window: maxAge === 0 ? window : Math.min(window, maxAge) });
  }
  return kv;
}
