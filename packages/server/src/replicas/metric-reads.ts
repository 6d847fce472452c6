import { randomUUID } from 'node:crypto';
import { FleetError, type NodeMetrics, type NodeSparkline } from '@gpufleet/protocol';
import type { Bus } from '../bus/bus.js';
import { subjects } from '../bus/subjects.js';
import type { MetricQuery, MetricStore } from '../metrics/metric-store.js';
import { nodeSparkline, type SparklineWindow } from '../metrics/sparklines.js';
import { mergeSeries, mergeSparkline } from './metric-merge.js';

/** How long a replica waits for the holder's answer before it answers from what it has itself. */
const ANSWER_TIMEOUT_MS = 2000;
/** Series are sent in parts of about this many JSON bytes (the bus refuses messages over 512 KiB). */
const PART_BYTES = 256 * 1024;

export interface MetricReadsOptions {
  bus: Bus;
  /** This replica: questions for nodes it holds arrive on its name's subject. */
  replica: { name: string; instance: string };
  metrics: MetricStore;
  /** The replica holding a node's session now, or null. */
  owners: { holderOf(nodeId: string): string | null };
  log: { warn(obj: object, msg: string): void };
  timeoutMs?: number;
}

type Question =
  | { id: string; from: string; kind: 'series'; nodeId: string; since?: number; names?: string[] }
  | { id: string; from: string; kind: 'sparklines'; ids: string[]; window: SparklineWindow };

type Answer =
  | { id: string; error: string }
  | { id: string; part: number; parts: number; series: NodeMetrics['series'] }
  | { id: string; part: 0; parts: 1; sparklines: NodeSparkline[] };

interface Waiting {
  parts: Array<NodeMetrics['series'] | undefined>;
  got: number;
  settle: (answer: { series?: NodeMetrics['series']; sparklines?: NodeSparkline[] } | Error) => void;
}

/**
 * Metric history across replicas (issue 13). Only the replica holding a node's session keeps its
 * rings; the others keep its latest sample (MetricStore.noteRemote). A series or sparkline read
 * for a node held elsewhere is asked of the holder over the bus and merged with whatever older
 * history this replica kept from when it held the node itself. When the holder does not answer
 * in time (it is dying, the bus is down), the answer is what this replica has, never an error:
 * a chart with a gap beats a page that fails.
 */
export class MetricReads {
  private readonly waiting = new Map<string, Waiting>();
  private readonly stops: Array<() => void> = [];
  private readonly timeoutMs: number;
  /** Questions the holder did not answer in time (exposed for tests and the replica status). */
  unanswered = 0;

  constructor(private readonly o: MetricReadsOptions) {
    this.timeoutMs = o.timeoutMs ?? ANSWER_TIMEOUT_MS;
  }

  async start(): Promise<void> {
    const { bus, replica } = this.o;
    this.stops.push(
      await bus.subscribe(subjects.metricQueries(replica.name), (msg) => this.answer(msg.json<Question>())),
      await bus.subscribe(subjects.metricAnswers(replica.instance), (msg) => this.collect(msg.json<Answer>())),
    );
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
    for (const w of this.waiting.values()) w.settle(new FleetError('unavailable', 'the server is stopping'));
    this.waiting.clear();
  }

  /** A node's series as MetricStore.query gives them, wherever the node is held. */
  async query(nodeId: string, q: MetricQuery = {}): Promise<NodeMetrics> {
    const local = this.o.metrics.query(nodeId, q);
    const holder = this.holderElsewhere(nodeId);
    if (holder === null) return local;
    const question = { kind: 'series' as const, nodeId, ...(q.since !== undefined ? { since: q.since } : {}), ...(q.names ? { names: [...q.names] } : {}) };
    const answer = await this.ask(holder, question);
    if (answer instanceof Error) return local;
    return { nodeId, series: mergeSeries(local.series, answer.series ?? []) };
  }

  /** Sparklines of these nodes in one window, each computed where the node's rings are. */
  async sparklines(ids: readonly string[], window: SparklineWindow): Promise<NodeSparkline[]> {
    const byHolder = new Map<string, string[]>();
    const out = new Map<string, NodeSparkline>();
    for (const id of ids) {
      out.set(id, nodeSparkline(this.o.metrics, id, window));
      const holder = this.holderElsewhere(id);
      if (holder !== null) byHolder.set(holder, [...(byHolder.get(holder) ?? []), id]);
    }
    await Promise.all(
      [...byHolder].map(async ([holder, batch]) => {
        const answer = await this.ask(holder, { kind: 'sparklines', ids: batch, window });
        if (answer instanceof Error) return;
        for (const remote of answer.sparklines ?? []) {
          const local = out.get(remote.id);
          if (local) out.set(remote.id, mergeSparkline(local, remote));
        }
      }),
    );
    return ids.map((id) => out.get(id)!);
  }

  private holderElsewhere(nodeId: string): string | null {
    const holder = this.o.owners.holderOf(nodeId);
    return holder !== null && holder !== this.o.replica.name ? holder : null;
  }

  private ask(
    holder: string,
    question: Omit<Extract<Question, { kind: 'series' }>, 'id' | 'from'> | Omit<Extract<Question, { kind: 'sparklines' }>, 'id' | 'from'>,
  ): Promise<{ series?: NodeMetrics['series']; sparklines?: NodeSparkline[] } | Error> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.unanswered++;
        settle(new FleetError('unavailable', `replica ${holder} did not answer a metrics question in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      timer.unref?.();
      const settle: Waiting['settle'] = (answer) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (answer instanceof Error && answer.message !== 'the server is stopping')
          this.o.log.warn({ holder, err: answer.message }, 'metric history of a node held elsewhere: answering from this replica only');
        resolve(answer);
      };
      this.waiting.set(id, { parts: [], got: 0, settle });
      try {
        this.o.bus.publish(subjects.metricQueries(holder), { ...question, id, from: this.o.replica.instance });
      } catch (err) {
        settle(err as Error);
      }
    });
  }

  /** The holder's side: answers from this replica's rings. */
  private answer(q: Question): void {
    if (!q || typeof q.id !== 'string' || typeof q.from !== 'string') return;
    const reply = (a: Answer) => {
      try {
        this.o.bus.publish(subjects.metricAnswers(q.from), a);
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'could not answer another replica about metric history');
      }
    };
    try {
      if (q.kind === 'series' && typeof q.nodeId === 'string') {
        const names = Array.isArray(q.names) ? q.names.filter((n): n is string => typeof n === 'string') : undefined;
        const since = typeof q.since === 'number' ? q.since : undefined;
        const { series } = this.o.metrics.query(q.nodeId, { ...(since !== undefined ? { since } : {}), ...(names ? { names } : {}) });
        const parts = splitSeries(series);
        parts.forEach((part, i) => reply({ id: q.id, part: i, parts: parts.length, series: part }));
      } else if (q.kind === 'sparklines' && Array.isArray(q.ids) && isWindow(q.window)) {
        const ids = q.ids.filter((id): id is string => typeof id === 'string').slice(0, 1000);
        reply({ id: q.id, part: 0, parts: 1, sparklines: ids.map((id) => nodeSparkline(this.o.metrics, id, q.window)) });
      } else {
        reply({ id: q.id, error: 'not a metrics question this replica understands' });
      }
    } catch (err) {
      reply({ id: q.id, error: (err as Error).message });
    }
  }

  /** The asker's side: puts the parts together and settles the question once all are in. */
  private collect(a: Answer): void {
    const w = a && typeof a.id === 'string' ? this.waiting.get(a.id) : undefined;
    if (!w) return; // late (timed out) or not ours
    if ('error' in a) return w.settle(new FleetError('unavailable', `the holder could not answer: ${a.error}`));
    if ('sparklines' in a) return w.settle({ sparklines: Array.isArray(a.sparklines) ? a.sparklines : [] });
    if (!Number.isSafeInteger(a.part) || !Number.isSafeInteger(a.parts) || a.part < 0 || a.part >= a.parts || !Array.isArray(a.series)) {
      return w.settle(new FleetError('internal', 'the holder sent a malformed metrics answer'));
    }
    if (w.parts[a.part] === undefined) w.got++;
    w.parts[a.part] = a.series;
    if (w.got === a.parts) w.settle({ series: w.parts.flatMap((p) => p ?? []) });
  }
}

function isWindow(w: unknown): w is SparklineWindow {
  const v = w as Partial<SparklineWindow> | null;
  return (
    v !== null &&
    typeof v === 'object' &&
    Number.isFinite(v.start) &&
    Number.isSafeInteger(v.bucketMs) &&
    (v.bucketMs as number) > 0 &&
    Number.isSafeInteger(v.points) &&
    (v.points as number) > 0 &&
    (v.points as number) <= 10_000
  );
}

/** Series grouped into parts of about PART_BYTES of JSON each (at least one part, maybe empty). */
export function splitSeries(series: NodeMetrics['series'], partBytes = PART_BYTES): Array<NodeMetrics['series']> {
  const parts: Array<NodeMetrics['series']> = [[]];
  let size = 0;
  for (const s of series) {
    // Points are [ms, value]: about 22 bytes each as JSON; exact sizes are not worth a stringify.
    const bytes = 64 + s.points.length * 24;
    if (size > 0 && size + bytes > partBytes) {
      parts.push([]);
      size = 0;
    }
    parts.at(-1)!.push(s);
    size += bytes;
  }
  return parts;
}
