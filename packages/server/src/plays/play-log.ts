import type { PlayEventView } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { PlayEventRecord, Store } from '../store/store.js';
import type { ParsedEvent } from './ansible-jsonl.js';

/** Events kept per play; past it one note says the log was cut, and the counts go on. */
export const MAX_EVENTS_PER_PLAY = 20_000;

export function eventView(e: PlayEventRecord): PlayEventView {
  return { seq: e.seq, at: new Date(e.at).toISOString(), kind: e.kind, host: e.host, task: e.task, status: e.status, message: e.message };
}

/**
 * A play's event log while it runs: events get their seq at once, are written in small batches
 * (a busy play makes thousands), and are handed to live listeners only once stored, so a stream
 * that reads the stored history and then follows misses nothing and sees nothing twice.
 */
export class PlayLog {
  private seq: number;
  private stored: number;
  private pending: PlayEventRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: {
      playId: string;
      store: Store;
      clock: Clock;
      /** The stored events are handed here, in order. */
      publish: (event: PlayEventView) => void;
      onError: (err: unknown) => void;
      /** The last seq stored already (a log picked up again). */
      lastSeq?: number;
      max?: number;
      flushMs?: number;
    },
  ) {
    this.seq = o.lastSeq ?? 0;
    this.stored = this.seq;
  }

  add(event: ParsedEvent): void {
    const max = this.o.max ?? MAX_EVENTS_PER_PLAY;
    if (this.stored >= max + 1) return;
    const record: PlayEventRecord =
      this.stored === max
        ? { ...note(this.o.playId), seq: 0, at: 0, message: `the event log is cut at ${max} events; counts and the end state are still kept` }
        : { playId: this.o.playId, seq: 0, at: 0, ...event };
    record.seq = ++this.seq;
    record.at = this.o.clock.now();
    this.stored++;
    this.pending.push(record);
    if (this.pending.length >= 200) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.o.flushMs ?? 100);
  }

  /** Writes what is pending; resolves once everything added so far is stored and published. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) {
      this.flushing = this.flushing.then(async () => {
        try {
          await this.o.store.appendPlayEvents(batch);
          for (const e of batch) this.o.publish(eventView(e));
        } catch (err) {
          this.o.onError(err);
        }
      });
    }
    return this.flushing;
  }
}

function note(playId: string): Omit<PlayEventRecord, 'seq' | 'at' | 'message'> {
  return { playId, kind: 'output', host: null, task: null, status: null };
}
