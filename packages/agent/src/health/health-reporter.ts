import { systemClock, type Clock } from '../runtime/clock.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import { errorText, silentLogger, type Logger } from '../runtime/logger.js';
import { CounterWatch, type CounterEvent, type CounterSample, type CounterWatchOptions } from './counter-watch.js';
import { describeKernelEvent } from './event-info.js';
import type { KernelEvent } from './kernel-line.js';
import { KernelLogWatcher, type KernelLogSourceOption, type KernelLogWatcherOptions } from './kmsg-watcher.js';
import { PciGpuMap } from './pci-to-gpu.js';

/** The agent's health options (AgentOptions.health). */
export interface HealthOptions {
  /** Watch the kernel log; omitted: no kernel watching (counters are still watched). */
  kernelLog?: {
    source: KernelLogSourceOption;
    /** Default 5 min. */
    lookBackMs?: number;
    /** Default 100 ms. */
    pollMs?: number;
  };
  counters?: CounterWatchOptions;
  /**
   * Kernel events of one kind, code and GPU sent per minute at most; more are counted and the
   * count rides on the next one sent (data.suppressed). Guards the outbox against an Xid storm
   * (the driver can print hundreds of Xid 13 lines a second). Default 60.
   */
  maxEventsPerMinute?: number;
}

export interface HealthReporterOptions extends HealthOptions {
  /** Where events go: Agent.enqueueEvent. */
  enqueue: (e: NewAgentEvent) => unknown;
  logger?: Logger;
  clock?: Clock;
  /** Test seams for the watcher (fs, spawn, which, uptime). */
  watcher?: Partial<Omit<KernelLogWatcherOptions, 'onEvent'>>;
}

const MAX_LINE_IN_EVENT = 4096;
const MAX_TEXT_IN_MESSAGE = 1024;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
const WINDOW_MS = 60_000;

function counterSeverity(e: CounterEvent): 'info' | 'warning' | 'critical' {
  // A condition ending is good news; a new uncorrected error or a failed remap is not.
  if (e.current === false) return 'info';
  if (e.counter.startsWith('ecc.uncorrected') || e.counter === 'remapped_rows.failure') return 'critical';
  return 'warning';
}

/**
 * Turns what the health watchers see into agent events: kernel log GPU events (with the GPU's
 * UUID looked up by PCI address and the catalog's severity, action and description) and
 * counter changes between samples. Everything goes through `enqueue`, i.e. the outbox.
 */
export class HealthReporter {
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly pci = new PciGpuMap();
  private readonly counters: CounterWatch;
  private readonly watcher: KernelLogWatcher | null;
  private readonly maxPerMinute: number;
  private readonly windows = new Map<string, { start: number; sent: number; suppressed: number }>();
  readonly stats = { kernelEvents: 0, counterEvents: 0, suppressed: 0 };

  constructor(private readonly o: HealthReporterOptions) {
    this.logger = o.logger ?? silentLogger;
    this.clock = o.clock ?? systemClock;
    this.counters = new CounterWatch(o.counters);
    this.maxPerMinute = Math.max(1, o.maxEventsPerMinute ?? 60);
    this.watcher = o.kernelLog
      ? new KernelLogWatcher({
          logger: this.logger,
          clock: this.clock,
          ...o.watcher,
          source: o.kernelLog.source,
          lookBackMs: o.kernelLog.lookBackMs ?? o.watcher?.lookBackMs,
          pollMs: o.kernelLog.pollMs ?? o.watcher?.pollMs,
          onEvent: (ev) => this.reportKernelEvent(ev),
        })
      : null;
  }

  /** The kernel log watcher, when one was asked for. */
  get kernelLog(): KernelLogWatcher | null {
    return this.watcher;
  }

  start(): void {
    this.watcher?.start();
  }

  stop(): void {
    this.watcher?.stop();
  }

  /** One readout's GPUs: updates the PCI -> UUID map and reports counter changes. */
  observe(gpus: readonly CounterSample[]): void {
    try {
      this.pci.update(gpus);
      for (const e of this.counters.observe(gpus)) this.reportCounter(e);
    } catch (err) {
      this.logger.error('health counter check failed', { err: errorText(err) });
    }
  }

  /** One kernel event -> one agent event (unless rate limited). The watcher calls this. */
  reportKernelEvent(ev: KernelEvent): void {
    const info = describeKernelEvent(ev);
    const suppressed = this.admit(`${ev.kind}:${ev.code}:${ev.pciBusId}`);
    if (suppressed === null) return;
    const gpuUuid = ev.kind === 'sxid' ? null : this.pci.uuidFor(ev.pciBusId);
    const where = !ev.pciBusId
      ? ev.kind === 'xid'
        ? ' on an unknown GPU (no PCI address in the line)'
        : ''
      : ev.kind !== 'sxid' && gpuUuid === null
        ? ` on ${ev.pciBusId} (no GPU known at that address)`
        : ` on ${ev.pciBusId}`;
    const what = info.description ? `${info.title} (${info.description})` : info.title;
    const line = clip(ev.line, MAX_LINE_IN_EVENT);
    this.stats.kernelEvents++;
    this.send({
      kind: ev.kind,
      ts: this.eventTime(ev.timestamp),
      gpuUuid,
      pciBusId: ev.pciBusId,
      message: `${what}${where}${ev.message ? `: ${clip(ev.message, MAX_TEXT_IN_MESSAGE)}` : ''}`,
      data: {
        code: ev.code,
        gpuInstance: ev.gpuInstance,
        computeInstance: ev.computeInstance,
        pid: ev.pid,
        process: ev.process,
        causedBy: ev.causedBy,
        line,
        severity: info.severity,
        action: info.action,
        description: info.description,
        ...(suppressed > 0 ? { suppressed } : {}),
      },
    });
  }

  /**
   * The line's own time when it is plausible, else now (the agent fills it in): a kernel clock
   * far in the future or a broken prefix must not get the event refused by the protocol check.
   */
  private eventTime(ts: number | null): number | undefined {
    if (ts === null || !Number.isSafeInteger(ts) || ts <= 0) return undefined;
    return ts > this.clock.now() + 86_400_000 ? undefined : ts;
  }

  private reportCounter(e: CounterEvent): void {
    this.stats.counterEvents++;
    const gpu = `GPU ${e.index} (${e.pciBusId ?? e.gpuUuid ?? e.gpuKey})`;
    this.send({
      kind: 'counter',
      gpuUuid: e.gpuUuid,
      pciBusId: e.pciBusId,
      message: `${gpu}: ${e.counter} ${e.previous === null ? 'is' : `${e.previous} ->`} ${e.current}`,
      data: { counter: e.counter, previous: e.previous, current: e.current, index: e.index, severity: counterSeverity(e) },
    });
  }

  private send(e: NewAgentEvent): void {
    try {
      this.o.enqueue(e);
    } catch (err) {
      this.logger.error('could not enqueue a health event', { kind: e.kind, err: errorText(err) });
    }
  }

  /**
   * Per-key fixed one-minute windows: returns null when this event is over the limit, else the
   * number suppressed since the last one that went out (to report with it).
   */
  private admit(key: string): number | null {
    const now = this.clock.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= WINDOW_MS || now < w.start) {
      const carried = w?.suppressed ?? 0;
      w = { start: now, sent: 0, suppressed: carried };
      this.windows.set(key, w);
      // Old windows are dead weight; a host sees few distinct keys, so an occasional sweep is enough.
      if (this.windows.size > 1024) for (const [k, v] of this.windows) if (now - v.start >= WINDOW_MS) this.windows.delete(k);
    }
    if (w.sent >= this.maxPerMinute) {
      w.suppressed++;
      this.stats.suppressed++;
      if (w.suppressed === 1) this.logger.warn('kernel event storm: holding back repeats for a minute', { key, limit: this.maxPerMinute });
      return null;
    }
    w.sent++;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    return suppressed;
  }
}
