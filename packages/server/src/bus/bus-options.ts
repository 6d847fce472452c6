import type { DurableConsumeOptions, KvOptions } from './bus.js';
import { refuseUnknownKeys, wholeOption } from './bus-names.js';

/** Per-call options of the Bus, resolved once into complete settings both implementations trust. */

export interface ConsumeSettings {
  ackWaitMs: number;
  retryDelayMs: number;
  concurrency: number;
}

/**
 * A running handler's message is kept by keep-alives sent every third of the ack wait: under a
 * second they would be chatter, and a replica's death is not noticed faster than that anyway.
 */
export const MIN_ACK_WAIT_MS = 1_000;
/** A TTL shorter than this is below what the NATS server's expiry timer can be trusted with. */
export const MIN_KV_TTL_MS = 100;

export function resolveConsumeOptions(options: DurableConsumeOptions | undefined): ConsumeSettings {
  refuseUnknownKeys('durable consume options', options, ['ackWaitMs', 'retryDelayMs', 'concurrency']);
  return {
    ackWaitMs: wholeOption('ackWaitMs', options?.ackWaitMs, 30_000, MIN_ACK_WAIT_MS),
    retryDelayMs: wholeOption('retryDelayMs', options?.retryDelayMs, 1_000, 0),
    concurrency: wholeOption('concurrency', options?.concurrency, 1),
  };
}

export function resolveKvOptions(options: KvOptions | undefined): { ttlMs: number | undefined } {
  refuseUnknownKeys('KV options', options, ['ttlMs']);
  const ttlMs = options?.ttlMs;
  return { ttlMs: ttlMs === undefined ? undefined : wholeOption('ttlMs', ttlMs, 0, MIN_KV_TTL_MS) };
}
