import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyReply } from 'fastify';

/** Items of a plain array written per slice: numbers and short strings are cheap to write. */
export const PLAIN_SLICE = 20_000;
/** Written pieces are gathered up to about this many characters before they are handed on. */
const PIECE_CHARS = 256 * 1024;

/**
 * An array whose items are made only as the JSON is written, `sliceSize` at a time (node views:
 * ~10 KB and ~60 µs each, so 10,000 of them made and written at once held a replica's event loop
 * for seconds). `make` may return undefined to leave an item out (removed since it was listed).
 * Outside slicedJson it serializes whole, so it is never written wrong, only not in slices.
 */
export class LazyItems<T> {
  constructor(
    readonly items: readonly T[],
    readonly make: (item: T) => unknown,
    readonly sliceSize = 100,
  ) {
    if (!Number.isInteger(sliceSize) || sliceSize < 1) throw new RangeError(`slice size must be a whole number of at least 1, not ${sliceSize}`);
  }

  toJSON(): unknown[] {
    return this.items.map(this.make).filter((v) => v !== undefined);
  }
}

interface Pending {
  text: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** Gives the loop back, first handing on what was written if it is worth a piece. */
async function* sliceBoundary(out: Pending): AsyncGenerator<string> {
  if (out.text.length > 0) {
    yield out.text;
    out.text = '';
  }
  await nextTurn();
}

async function* writeValue(value: unknown, out: Pending): AsyncGenerator<string> {
  if (value instanceof LazyItems) {
    out.text += '[';
    let first = true;
    const { items, make, sliceSize } = value as LazyItems<unknown>;
    for (let start = 0; start < items.length; start += sliceSize) {
      if (start > 0) yield* sliceBoundary(out);
      const texts: string[] = [];
      for (const item of items.slice(start, start + sliceSize)) {
        const made = make(item);
        if (made === undefined) continue;
        texts.push(JSON.stringify(made) ?? 'null');
      }
      if (texts.length === 0) continue;
      out.text += (first ? '' : ',') + texts.join(',');
      first = false;
    }
    out.text += ']';
  } else if (Array.isArray(value) && value.length > PLAIN_SLICE) {
    out.text += '[';
    for (let start = 0; start < value.length; start += PLAIN_SLICE) {
      if (start > 0) {
        out.text += ',';
        yield* sliceBoundary(out);
      }
      // JSON.stringify of a part, brackets cut: holes, undefined and functions become null as they would whole.
      out.text += JSON.stringify(value.slice(start, start + PLAIN_SLICE)).slice(1, -1);
    }
    out.text += ']';
  } else if (isPlainObject(value)) {
    out.text += '{';
    let first = true;
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      out.text += `${first ? '' : ','}${JSON.stringify(key)}:`;
      first = false;
      yield* writeValue(v, out);
    }
    out.text += '}';
  } else {
    // Anything else (small arrays, dates, primitives) is written whole, as JSON.stringify would.
    out.text += JSON.stringify(value) ?? 'null';
  }
  if (out.text.length >= PIECE_CHARS) {
    yield out.text;
    out.text = '';
  }
}

/**
 * `value` as JSON text, the same text JSON.stringify writes, in pieces: the event loop is given
 * back between slices of every LazyItems and of every plain array longer than PLAIN_SLICE. A reply
 * streamed this way also waits for a slow reader instead of holding the whole text in memory.
 */
export async function* slicedJson(value: unknown): AsyncGenerator<string> {
  const out: Pending = { text: '' };
  yield* writeValue(value, out);
  if (out.text.length > 0) yield out.text;
}

/**
 * Sends `value` as a JSON body written by slicedJson. Whatever can fail (a bad query, a missing
 * node) must have failed before: once the first piece is out the status is 200, and an error
 * later can only cut the answer short.
 */
export function sendSlicedJson(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(Readable.from(slicedJson(value)));
}
