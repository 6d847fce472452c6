import type { RunTargetState } from '@gpufleet/protocol';
import type { CliIo } from '../io.js';
import { renderTable, termSafe, termSafeOutput, type Column } from '../output.js';
import type { RunOutputChunk, RunTargetView } from './run-types.js';

const FINAL: ReadonlySet<RunTargetState> = new Set(['succeeded', 'failed', 'timed_out', 'canceled', 'unreachable', 'refused']);
const MAX_PREFIX = 32;

/** "850ms", "12.3s", "4m07s", "2h05m"; null as "-". */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The summary table columns: one row per host. */
export const summaryColumns: Column<RunTargetView>[] = [
  { header: 'HOST', get: (t) => t.hostname },
  { header: 'STATE', get: (t) => t.state },
  { header: 'EXIT', get: (t) => (t.exitCode === null ? (t.signal ?? '-') : String(t.exitCode)), align: 'right' },
  { header: 'DURATION', get: (t) => formatDuration(t.durationMs), align: 'right' },
  { header: 'REASON', get: (t) => t.reason ?? '' },
  { header: 'OUTPUT', get: (t) => `${t.outputBytes}${t.truncated ? ' (truncated)' : ''}`, wide: true, align: 'right' },
  { header: 'NODE', get: (t) => t.nodeId, wide: true },
];

/**
 * Prints a run as it happens: each output line with its host in front (`node-007 | line`; stderr
 * lines go to stderr), partial lines held until they end, and on a terminal a one-line progress
 * bar on stderr that output lines are printed around.
 */
export class RunPrinter {
  private readonly hosts = new Map<string, string>();
  private readonly states = new Map<string, RunTargetState>();
  private readonly partial = new Map<string, string>();
  private width = 0;
  private barShown = false;
  private lastBar = 0;

  constructor(
    private readonly io: CliIo,
    private readonly opts: { progress: boolean; now: () => number },
  ) {}

  /** The run's hosts (from the snapshot); sets the prefix width. */
  hostsAre(targets: ReadonlyArray<Pick<RunTargetView, 'nodeId' | 'hostname' | 'state'>>): void {
    for (const t of targets) {
      this.hosts.set(t.nodeId, t.hostname);
      this.states.set(t.nodeId, t.state);
    }
    this.width = Math.min(MAX_PREFIX, Math.max(0, ...[...this.hosts.values()].map((h) => termSafe(h).length)));
    this.drawBar(true);
  }

  target(t: RunTargetView): void {
    this.hosts.set(t.nodeId, t.hostname);
    this.states.set(t.nodeId, t.state);
    this.drawBar(false);
  }

  output(o: RunOutputChunk): void {
    if (o.stream === 'truncated') {
      this.line(o.nodeId, 'stderr', `[${o.data}]`);
      return;
    }
    const key = `${o.nodeId}\u0000${o.stream}`;
    const text = (this.partial.get(key) ?? '') + o.data;
    const lines = text.split(/\r?\n/);
    const rest = lines.pop()!;
    for (const l of lines) this.line(o.nodeId, o.stream, l);
    if (rest === '') this.partial.delete(key);
    else this.partial.set(key, rest);
  }

  /** Prints what is left of unfinished lines and clears the bar. */
  finish(): void {
    for (const [key, rest] of this.partial) {
      const [nodeId, stream] = key.split('\u0000') as [string, 'stdout' | 'stderr'];
      this.line(nodeId, stream, rest);
    }
    this.partial.clear();
    this.clearBar();
  }

  /** Counts of hosts per state, and how many are final. */
  tally(): { total: number; done: number; ok: number; bad: number } {
    let done = 0;
    let ok = 0;
    for (const s of this.states.values()) {
      if (FINAL.has(s)) done++;
      if (s === 'succeeded') ok++;
    }
    return { total: this.states.size, done, ok, bad: done - ok };
  }

  private line(nodeId: string, stream: 'stdout' | 'stderr', text: string): void {
    // The host name is host-reported: escaped. The text is the command's own output: raw unless it reaches a terminal.
    const host = termSafe(this.hosts.get(nodeId) ?? nodeId.slice(0, 20));
    const prefix = host.length > this.width ? `${host.slice(0, this.width - 1)}…` : host.padEnd(this.width);
    this.clearBar();
    const toErr = stream === 'stderr';
    const tty = toErr ? (this.io.stderrIsTty ?? this.io.stdoutIsTty) : this.io.stdoutIsTty;
    const write = toErr ? this.io.err : this.io.out;
    write.call(this.io, `${prefix} | ${termSafeOutput(text, tty)}\n`);
    this.drawBar(true);
  }

  private clearBar(): void {
    if (!this.barShown) return;
    this.io.err('\r\u001b[K');
    this.barShown = false;
  }

  private drawBar(force: boolean): void {
    if (!this.opts.progress) return;
    const now = this.opts.now();
    // A redraw per host would flood a slow terminal at 10,000 hosts: at most 10 a second.
    if (!force && now - this.lastBar < 100) return;
    this.lastBar = now;
    const { total, done, ok, bad } = this.tally();
    const cells = 30;
    const filled = total === 0 ? 0 : Math.round((done / total) * cells);
    this.io.err(`\r\u001b[K[${'#'.repeat(filled)}${'.'.repeat(cells - filled)}] ${done}/${total} done, ${ok} ok, ${bad} not ok`);
    this.barShown = true;
  }
}

/** The end-of-run table, one row per host. */
export function renderSummary(targets: readonly RunTargetView[], opts: { width: number | undefined; wide: boolean }): string {
  return renderTable(summaryColumns, targets, opts);
}
