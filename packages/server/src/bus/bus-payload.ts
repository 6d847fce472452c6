import { FleetError } from '@gpufleet/protocol';
import type { BusData, BusMessage, DurableMessage, KvEntry } from './bus.js';

/**
 * Turns what a caller hands the bus into bytes, and bytes back into messages. Both
 * implementations encode the same way, so a receiver gets a copy on either and a payload one
 * refuses the other refuses too.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

// JSON.stringify drops functions and symbols and turns Maps into {} and NaN into null without a
// word; a message that silently lost part of itself is worse than a refused one.
function strictValue(_key: string, value: unknown): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') throw new TypeError(`a ${typeof value} is not JSON`);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`${value} is not JSON`);
  if (value instanceof Map || value instanceof Set) throw new TypeError(`a ${value.constructor.name} is not JSON`);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) throw new TypeError('binary data inside an object is not JSON');
  return value;
}

/** Bytes for data: a copy of a Uint8Array, or an object as strict JSON; refuses more than maxBytes. */
export function encodeData(data: BusData, maxBytes: number): Uint8Array {
  let bytes: Uint8Array;
  if (data instanceof Uint8Array) {
    bytes = new Uint8Array(data);
  } else if (typeof data === 'object' && data !== null && !ArrayBuffer.isView(data) && !(data instanceof ArrayBuffer)) {
    let text: string;
    try {
      text = JSON.stringify(data, strictValue);
    } catch (err) {
      throw new FleetError('invalid_argument', `bus data is not serializable as JSON: ${(err as Error).message}`, { cause: err });
    }
    bytes = encoder.encode(text);
  } else {
    throw new FleetError('invalid_argument', `bus data must be a Uint8Array or a JSON object or array, not ${data === null ? 'null' : typeof data}`);
  }
  if (bytes.length > maxBytes) {
    throw new FleetError('payload_too_large', `bus data of ${bytes.length} bytes is over the limit of ${maxBytes}`, {
      details: { bytes: bytes.length, limit: maxBytes },
    });
  }
  return bytes;
}

/** data parsed as JSON, or FleetError 'invalid_argument'. */
export function decodeJson<T>(data: Uint8Array, where: string): T {
  try {
    return JSON.parse(decoder.decode(data)) as T;
  } catch (err) {
    throw new FleetError('invalid_argument', `${where} does not hold JSON: ${(err as Error).message}`, { cause: err });
  }
}

export function busMessage(subject: string, data: Uint8Array): BusMessage {
  return { subject, data, json: <T>() => decodeJson<T>(data, `the message on '${subject}'`) };
}

export function durableMessage(subject: string, data: Uint8Array, meta: { seq: number; msgId: string; deliveryCount: number }): DurableMessage {
  return { ...busMessage(subject, data), ...meta };
}

export function kvEntry(key: string, value: Uint8Array, revision: number): KvEntry {
  return { key, value, revision, json: <T>() => decodeJson<T>(value, `the value of key '${key}'`) };
}
