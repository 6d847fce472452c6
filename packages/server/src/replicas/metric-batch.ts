import { FleetError, type MetricsBody } from '@gpufleet/protocol';

/**
 * The wire form of relayed latest samples: many nodes' samples in one bus message.
 *
 * One message per sample cost a receiving replica about 20 % of a core in message handling alone
 * at 10,000 samples a second (100,000 nodes, 10 s interval; measured, docs/benchmarks.md), before
 * any JSON was read. A batch pays that once per few hundred samples. Each item's body stays JSON
 * text of its own, framed by length, so a receiver finds the node and time of every item without
 * parsing, and one bad body spoils only itself.
 *
 * Layout (big-endian): u8 version, u16 origin length, origin (UTF-8), u32 item count, then per
 * item: u16 node id length, node id (UTF-8), f64 sample time (epoch ms), u32 body length, body
 * (UTF-8 JSON of a MetricsBody).
 */

const VERSION = 1;
const MAX_ID_BYTES = 1024;

export interface RelayedSample {
  nodeId: string;
  ts: number;
  /** The sample as JSON text (UTF-8), parsed by the receiver. */
  body: Uint8Array;
}

export interface DecodedBatch {
  origin: string;
  items: RelayedSample[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** One sample framed as an item, ready to be put in a batch. */
export function encodeSampleItem(nodeId: string, body: MetricsBody): Uint8Array {
  const id = encoder.encode(nodeId);
  if (id.length === 0 || id.length > MAX_ID_BYTES) throw new FleetError('invalid_argument', `a node id of ${id.length} bytes cannot be relayed`);
  if (typeof body?.ts !== 'number' || !Number.isFinite(body.ts)) throw new FleetError('invalid_argument', `the sample of node '${nodeId}' has no time`);
  // Bodies came in as JSON from the agent and passed the frame schema: plain JSON, no replacer needed.
  const json = encoder.encode(JSON.stringify(body));
  const item = new Uint8Array(2 + id.length + 8 + 4 + json.length);
  const view = new DataView(item.buffer);
  view.setUint16(0, id.length);
  item.set(id, 2);
  view.setFloat64(2 + id.length, body.ts);
  view.setUint32(2 + id.length + 8, json.length);
  item.set(json, 2 + id.length + 12);
  return item;
}

/**
 * Packs items into as few messages as fit under maxBytes each. An item too large for any message
 * on its own is left out and counted: a latest sample lost to a limit is made good by the next.
 */
export function packBatches(origin: string, items: readonly Uint8Array[], maxBytes: number): { batches: Uint8Array[]; oversized: number } {
  const originBytes = encoder.encode(origin);
  if (originBytes.length > MAX_ID_BYTES) throw new FleetError('invalid_argument', `an origin of ${originBytes.length} bytes cannot be relayed`);
  const header = 1 + 2 + originBytes.length + 4;
  const batches: Uint8Array[] = [];
  let oversized = 0;
  let group: Uint8Array[] = [];
  let size = header;
  const flush = () => {
    if (group.length === 0) return;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    out[0] = VERSION;
    view.setUint16(1, originBytes.length);
    out.set(originBytes, 3);
    view.setUint32(3 + originBytes.length, group.length);
    let at = header;
    for (const item of group) {
      out.set(item, at);
      at += item.length;
    }
    batches.push(out);
    group = [];
    size = header;
  };
  for (const item of items) {
    if (header + item.length > maxBytes) {
      oversized++;
      continue;
    }
    if (size + item.length > maxBytes) flush();
    group.push(item);
    size += item.length;
  }
  flush();
  return { batches, oversized };
}

/** Reads a batch; anything malformed (truncated, another version, lengths past the end) is refused whole. */
export function decodeBatch(bytes: Uint8Array): DecodedBatch {
  const bad = (why: string) => new FleetError('invalid_argument', `not a metric batch: ${why}`);
  if (!(bytes instanceof Uint8Array) || bytes.length < 7) throw bad('too short');
  if (bytes[0] !== VERSION) throw bad(`version ${bytes[0]}, this replica reads ${VERSION}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 1;
  const need = (n: number, what: string) => {
    if (at + n > bytes.length) throw bad(`${what} runs past the end`);
  };
  const text = (n: number, what: string): string => {
    need(n, what);
    try {
      return decoder.decode(bytes.subarray(at, (at += n)));
    } catch {
      throw bad(`${what} is not UTF-8`);
    }
  };
  const originLength = view.getUint16(at);
  at += 2;
  const origin = text(originLength, 'the origin');
  need(4, 'the item count');
  const count = view.getUint32(at);
  at += 4;
  const items: RelayedSample[] = [];
  for (let i = 0; i < count; i++) {
    need(2, `item ${i}`);
    const idLength = view.getUint16(at);
    at += 2;
    if (idLength === 0) throw bad(`item ${i} has an empty node id`);
    const nodeId = text(idLength, `the node id of item ${i}`);
    need(12, `item ${i}`);
    const ts = view.getFloat64(at);
    const bodyLength = view.getUint32(at + 8);
    at += 12;
    need(bodyLength, `the body of item ${i}`);
    if (!Number.isFinite(ts)) throw bad(`item ${i} has no sample time`);
    items.push({ nodeId, ts, body: bytes.subarray(at, (at += bodyLength)) });
  }
  if (at !== bytes.length) throw bad(`${bytes.length - at} bytes after the last item`);
  return { origin, items };
}

/** A relayed body as a sample, or null when it is not one (a receiver counts and skips it). */
export function parseRelayedBody(item: RelayedSample): MetricsBody | null {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(item.body));
  } catch {
    return null;
  }
  const b = body as Partial<MetricsBody> | null;
  if (b === null || typeof b !== 'object' || b.ts !== item.ts || typeof b.host !== 'object' || b.host === null || !Array.isArray(b.gpus)) return null;
  return b as MetricsBody;
}
