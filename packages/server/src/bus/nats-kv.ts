import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, KvWatchInclude } from '@nats-io/kv';
import { FleetError } from '@gpufleet/protocol';
import type { BusData, BusKv, BusLog, KvChange, KvEntry } from './bus.js';
import { checkKey, checkRevision } from './bus-names.js';
import { encodeData, kvEntry } from './bus-payload.js';

/** What a NatsKv needs of the bus that opened it. */
export interface NatsKvContext {
  /** Throws 'unavailable' once the bus is closed. */
  ensureOpen(): void;
  maxPayloadBytes: number;
  /** Registers a watcher's stop with the bus, so close() ends it; returns the unregister. */
  track(stop: () => Promise<void>): () => void;
  log: BusLog | undefined;
}

/** How long entries() and keys() wait for a bucket's last values or keys before they give up (a stuck consumer). */
const KV_READ_TIMEOUT_MS = 60_000;

/** A write refused because the key's last revision was not the expected one. */
function isWrongRevision(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function unavailable(what: string, err: unknown): FleetError {
  return FleetError.is(err) ? err : new FleetError('unavailable', `NATS KV ${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * A NATS KV bucket as a BusKv. The bucket has history 1 and max_age = ttl, so each write renews the
 * key's lease; a delete writes a tombstone. NATS before 2.11 says nothing when an entry ages out,
 * so neither does watch().
 */
export function natsKv(kv: KV, bucket: string, ctx: NatsKvContext): BusKv {
  const encode = (value: BusData) => encodeData(value, ctx.maxPayloadBytes);
  const conflict = (key: string, expectedRevision: number, err: unknown) =>
    new FleetError('conflict', `key '${key}' of bucket '${bucket}' is not at revision ${expectedRevision}`, {
      details: { key, expectedRevision },
      cause: err,
    });

  return {
    async get(key) {
      ctx.ensureOpen();
      checkKey(key);
      try {
        const e = await kv.get(key);
        return e && e.operation === 'PUT' ? kvEntry(key, e.value, e.revision) : null;
      } catch (err) {
        throw unavailable('get', err);
      }
    },

    async create(key, value) {
      ctx.ensureOpen();
      checkKey(key);
      const bytes = encode(value);
      try {
        return await kv.create(key, bytes);
      } catch (err) {
        if (isWrongRevision(err)) throw new FleetError('already_exists', `key '${key}' of bucket '${bucket}' exists`, { cause: err });
        throw unavailable('create', err);
      }
    },

    async update(key, value, expectedRevision) {
      ctx.ensureOpen();
      checkKey(key);
      checkRevision(expectedRevision);
      const bytes = encode(value);
      try {
        return await kv.update(key, bytes, expectedRevision);
      } catch (err) {
        if (isWrongRevision(err)) throw conflict(key, expectedRevision, err);
        throw unavailable('update', err);
      }
    },

    async delete(key, expectedRevision) {
      ctx.ensureOpen();
      checkKey(key);
      if (expectedRevision !== undefined) checkRevision(expectedRevision);
      try {
        await kv.delete(key, expectedRevision === undefined ? undefined : { previousSeq: expectedRevision });
      } catch (err) {
        if (expectedRevision !== undefined && isWrongRevision(err)) throw conflict(key, expectedRevision, err);
        throw unavailable('delete', err);
      }
    },

    async keys() {
      ctx.ensureOpen();
      try {
        const keys = await kv.keys();
        let timedOut = false;
        // Under load the consumer behind keys() has been seen never to end: a caller that awaits
        // it (a replica's beat) would wait forever.
        const guard = setTimeout(() => {
          timedOut = true;
          keys.stop();
        }, KV_READ_TIMEOUT_MS);
        const found: string[] = [];
        try {
          for await (const key of keys) found.push(key);
        } finally {
          clearTimeout(guard);
        }
        // Never a part of the keys passed off as all of them.
        if (timedOut) throw new Error(`no end of the keys within ${KV_READ_TIMEOUT_MS / 1000} s`);
        return found;
      } catch (err) {
        throw unavailable('keys', err);
      }
    },

    async entries() {
      ctx.ensureOpen();
      try {
        // An empty bucket delivers nothing to wait for.
        if ((await kv.status()).values === 0) return [];
        // The last value of every key, as a watcher's first deliveries: one consumer, no request per key.
        const values = await kv.watch({ include: KvWatchInclude.LastValue });
        const found = new Map<string, KvEntry>();
        let timedOut = false;
        let complete = false;
        const guard = setTimeout(() => {
          timedOut = true;
          values.stop();
        }, KV_READ_TIMEOUT_MS);
        try {
          for await (const e of values) {
            if (e.operation === 'PUT') found.set(e.key, kvEntry(e.key, e.value, e.revision));
            else found.delete(e.key);
            // Past the last value there was when the watch began (or caught up with the writes since).
            if (e.isUpdate || e.delta === 0) {
              complete = true;
              break;
            }
          }
        } finally {
          clearTimeout(guard);
          values.stop();
        }
        // Never a part of the bucket passed off as all of it.
        if (!complete) throw new Error(timedOut ? `no end of the last values within ${KV_READ_TIMEOUT_MS / 1000} s` : 'the watch ended early');
        return [...found.values()];
      } catch (err) {
        throw unavailable('entries', err);
      }
    },

    async watch(handler) {
      ctx.ensureOpen();
      let changes: Awaited<ReturnType<KV['watch']>>;
      try {
        // Updates only: a watcher is told of writes from now on, as on the in-process bus.
        changes = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
      } catch (err) {
        throw unavailable('watch', err);
      }
      const pumping = (async () => {
        for await (const e of changes) {
          const put = e.operation === 'PUT';
          const change: KvChange = { key: e.key, op: put ? 'put' : 'delete', revision: e.revision, value: put ? e.value : null };
          try {
            handler(change);
          } catch (err) {
            ctx.log?.warn({ err, bucket, key: e.key }, 'a KV watcher threw');
          }
        }
      })().catch((err) => ctx.log?.warn({ err, bucket }, 'a KV watch ended with an error'));
      const stop = async () => {
        untrack();
        changes.stop();
        await pumping;
      };
      const untrack = ctx.track(stop);
      return stop;
    },
  };
}
