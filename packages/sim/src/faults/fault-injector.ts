import { appendFileSync } from 'node:fs';
import { FleetError, xidInfo } from '@gpufleet/protocol';
import { errorText, silentLogger, type Logger } from '@gpufleet/agent';
import type { SimHost } from '../fleet.js';
import type { SimGpuModel } from '../gpu-models.js';
import { hashString, mulberry32 } from '../prng.js';
import type { SimWorkloads } from '../workloads/sim-workloads.js';
import type { FaultKind, FaultSpec } from './fault-spec.js';
import { fallenOffBusLines, kernelTimePrefix, sxidText, xidText, type KernelTimeStyle } from './kernel-lines.js';
import { isNvidiaToolFailure, toolFailureMessage, type NvidiaToolFailure } from './tool-messages.js';

/** What the injector needs of a fleet (SimFleet fits). */
export interface FaultTarget {
  host(hostname: string): Pick<SimHost, 'hostname' | 'model' | 'backend' | 'kernelLogPath' | 'link'>;
  crashAgent(hostname: string): Promise<void>;
  restartAgent(hostname: string): Promise<void>;
  /** The fleet's fake workloads, for allocation faults and faults aimed at an allocation's host; absent: none run. */
  workloads?: Pick<SimWorkloads, 'find' | 'crash' | 'failHealth' | 'clearHealth'> | null;
}

export interface FaultInjectorOptions {
  fleet: FaultTarget;
  /** Same seed, same pids, process names, link numbers and sub-ms digits in the lines. */
  seed: string | number;
  /** Time style of kernel lines unless an injection says otherwise. Default 'dmesg'. */
  timeStyle?: KernelTimeStyle;
  logger?: Logger;
}

/** One fault injected: when (the host's clock), where, what, and the kernel lines written. */
export interface InjectionRecord {
  at: number;
  hostname: string;
  kind: FaultKind;
  summary: string;
  /** Lines appended to the host's kernel log (empty for faults that write none). */
  lines: string[];
  /** Date.now() right after the lines were written (the benchmark's start mark). */
  writtenAt: number;
}

// NVSwitches per board (HGX H100: 4, HGX A100: 6); PCIe cards and AMD boards have none.
const NVSWITCHES: Record<SimGpuModel, number> = { H100: 4, A100: 6, L40S: 0, MI300X: 0 };
// PCI vendor:device of each NVIDIA model, for the un-numbered fallen-off-bus record.
const PCI_DEVICE_IDS: Partial<Record<SimGpuModel, string>> = { H100: '10de:2330', A100: '10de:20b2', L40S: '10de:26b9' };
// Process names the fixtures show next to application XIDs.
const PROCESSES = ['python3', 'pt_main_thread', 'python', 'torchrun'];
// NVIDIA's immediate actions after which the driver knows the process that hit the error.
const APP_ACTIONS = new Set(['RESTART_APP', 'WORKFLOW_XID_45', 'CHECK_UVM']);

const DEFAULT_STORM_MS = 2000;
const DEFAULT_RAMP_MS = 2000;

/**
 * Injects faults into a simulated fleet, per host and per GPU: XID and SXid lines written into
 * the host's fake kernel log in the driver's own format, ECC storms, row-remap faults and
 * thermal ramps laid over the fake backend's readings, a GPU falling off the bus, the vendor
 * tool failing, the agent crashing and the network link dropping. Choices the driver would
 * make (pid, process, link number) come from the seed, so the same seed writes the same lines
 * at the same clock times. `dispose()` cancels what is still scheduled (restores, restarts).
 */
export class FaultInjector {
  private readonly logger: Logger;
  private readonly timeStyle: KernelTimeStyle;
  private readonly counts = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Everything injected, in order. */
  readonly history: InjectionRecord[] = [];
  /** Scheduled follow-ups (restore, restart) that failed. */
  readonly errors: string[] = [];

  constructor(private readonly o: FaultInjectorOptions) {
    this.logger = o.logger ?? silentLogger;
    this.timeStyle = o.timeStyle ?? 'dmesg';
  }

  /**
   * Applies one fault as a scenario file describes it. A fault aimed at an allocation
   * (`alloc: llama/web-0`) lands on the host it runs on now, and a GPU fault on its first GPU
   * unless `gpu` says otherwise.
   */
  async inject(spec: FaultSpec): Promise<InjectionRecord> {
    if (spec.inject === 'alloc-crash') return this.allocCrash(spec.alloc, spec.exitCode ?? 1);
    if (spec.inject === 'alloc-unhealthy') return this.allocUnhealthy(spec.alloc, spec.duration ?? null);
    const t = this.target(spec);
    const record = await this.injectOnHost(spec, t.hostname, () => {
      if (t.gpu === undefined)
        throw new FleetError('invalid_argument', `${spec.inject} needs a GPU: ${spec.alloc ? `${spec.alloc} holds none, give gpu` : 'give gpu'}`);
      return t.gpu;
    });
    if (spec.alloc !== undefined) record.summary += ` (where ${spec.alloc} runs)`;
    return record;
  }

  private injectOnHost(
    spec: Exclude<FaultSpec, { inject: 'alloc-crash' | 'alloc-unhealthy' }>,
    host: string,
    gpu: () => number,
  ): Promise<InjectionRecord> | InjectionRecord {
    switch (spec.inject) {
      case 'xid':
        return this.xid(host, gpu(), spec.code, spec);
      case 'sxid':
        return this.sxid(host, spec.code, { switchIndex: spec.switch, link: spec.link, message: spec.message, timeStyle: spec.timeStyle });
      case 'ecc-storm':
        return this.eccStorm(host, gpu(), { durationMs: spec.duration, corrected: spec.corrected, uncorrected: spec.uncorrected });
      case 'row-remap':
        return this.rowRemap(host, gpu(), spec.state, { xid: spec.xid });
      case 'thermal':
        return this.thermalRamp(host, gpu(), { targetC: spec.target, rampMs: spec.ramp, holdMs: spec.hold });
      case 'fall-off-bus':
        return this.fallOffBus(host, gpu(), { form: spec.form, toolFails: spec.toolFails, timeStyle: spec.timeStyle });
      case 'tool-failure':
        return this.toolFailure(host, {
          failure: spec.failure as NvidiaToolFailure | undefined,
          message: spec.message,
          gpu: spec.gpu ?? (spec.alloc === undefined ? undefined : gpu()),
          durationMs: spec.duration,
        });
      case 'agent-crash':
        return this.crashAgent(host, { restartAfterMs: spec.restartAfter });
      case 'network-drop':
        return this.networkDrop(host, spec.duration);
      case 'clear':
        return this.clear(host, spec.gpu);
    }
  }

  /** A simulated allocation's workload exits with `exitCode`, as a crash; the host's restart policy takes over. */
  allocCrash(ref: string, exitCode: number): InjectionRecord {
    const a = this.workloads().crash(ref, exitCode);
    return this.record(a.hostname, 'alloc-crash', `${a.job}/${a.name} (${a.allocId}) crashed with exit code ${exitCode}`, [], this.hostNow(a.hostname));
  }

  /** A simulated allocation's health checks fail for `forMs` (null: until cleared), across its restarts. */
  allocUnhealthy(ref: string, forMs: number | null): InjectionRecord {
    const a = this.workloads().failHealth(ref, forMs);
    return this.record(
      a.hostname,
      'alloc-unhealthy',
      `${a.job}/${a.name} (${a.allocId}) fails its health checks ${forMs === null ? 'until cleared' : `for ${forMs} ms`}`,
      [],
      this.hostNow(a.hostname),
    );
  }

  private hostNow(hostname: string): number {
    return this.o.fleet.host(hostname).backend.clock.now();
  }

  private workloads(): NonNullable<FaultTarget['workloads']> {
    const w = this.o.fleet.workloads;
    if (!w) throw new FleetError('failed_precondition', 'this simulated fleet runs no workloads: allocation faults need its fake executors');
    return w;
  }

  /** The host (and GPU) a host fault lands on: given, or where the allocation it names runs now. */
  private target(spec: Exclude<FaultSpec, { inject: 'alloc-crash' | 'alloc-unhealthy' }>): { hostname: string; gpu: number | undefined } {
    const gpu = 'gpu' in spec ? spec.gpu : undefined;
    if (spec.alloc === undefined) {
      if (spec.host === undefined) throw new FleetError('invalid_argument', `${spec.inject} needs a host or an alloc`);
      return { hostname: spec.host, gpu };
    }
    const a = this.workloads().find(spec.alloc);
    return { hostname: a.hostname, gpu: gpu ?? a.gpus[0]?.index };
  }

  /** Writes an XID line about one GPU (message: the catalog's description unless given). */
  xid(
    hostname: string,
    gpu: number,
    code: number,
    o: { pid?: number | null; process?: string | null; message?: string; gpuInstance?: number; timeStyle?: KernelTimeStyle } = {},
  ): InjectionRecord {
    const h = this.nvidiaHost(hostname, 'an XID');
    const ids = this.gpu(h, gpu);
    const rng = this.rng(hostname);
    // The driver names the process for application faults; for hardware faults it does not know one.
    const appFault = APP_ACTIONS.has(xidInfo(code)?.immediateAction ?? '');
    const pid = o.pid !== undefined ? o.pid : appFault ? 1000 + Math.floor(rng() * 4_000_000) : null;
    const process = o.process !== undefined ? o.process : appFault ? PROCESSES[Math.floor(rng() * PROCESSES.length)]! : null;
    const text = xidText({ pciBusId: ids.pciBusId, code, pid, process, message: o.message, gpuInstance: o.gpuInstance });
    const line = this.prefix(h, rng, o.timeStyle) + text;
    return this.write(h, 'xid', `XID ${code} on GPU ${gpu}`, [line]);
  }

  /** Writes an NVSwitch SXid line (the host's switch `switchIndex`, default 0). */
  sxid(hostname: string, code: number, o: { switchIndex?: number; link?: number; message?: string; timeStyle?: KernelTimeStyle } = {}): InjectionRecord {
    const h = this.nvidiaHost(hostname, 'an SXid');
    const switches = NVSWITCHES[h.model];
    if (switches === 0) throw new FleetError('invalid_argument', `${hostname} is a ${h.model} host without NVSwitches: an SXid cannot happen there`);
    const switchIndex = o.switchIndex ?? 0;
    if (!Number.isInteger(switchIndex) || switchIndex < 0 || switchIndex >= switches)
      throw new FleetError('invalid_argument', `${hostname} has NVSwitches 0 to ${switches - 1}, not ${switchIndex}`);
    const rng = this.rng(hostname);
    const link = o.link ?? Math.floor(rng() * 64);
    // NVSwitches sit on their own buses below the GPUs' (the simulated GPUs use 0x10 and up).
    const pciBusId = `0000:${(0x05 + switchIndex).toString(16).padStart(2, '0')}:00.0`;
    const line = this.prefix(h, rng, o.timeStyle, 'err') + sxidText({ switchIndex, pciBusId, code, link, message: o.message });
    return this.write(h, 'sxid', `SXid ${code} on NVSwitch ${switchIndex}`, [line]);
  }

  /** Corrected ECC errors jump, then uncorrected ones rise, over `durationMs` from now. */
  eccStorm(hostname: string, gpu: number, o: { durationMs?: number; corrected?: number; uncorrected?: number } = {}): InjectionRecord {
    const h = this.o.fleet.host(hostname);
    this.gpu(h, gpu);
    const storm = {
      startAt: h.backend.clock.now(),
      durationMs: o.durationMs ?? DEFAULT_STORM_MS,
      corrected: o.corrected ?? 5000,
      uncorrected: o.uncorrected ?? 2,
    };
    h.backend.setReadingFaults(gpu, { ecc: storm });
    return this.record(
      h.hostname,
      'ecc-storm',
      `ECC storm on GPU ${gpu}: ${storm.corrected} corrected, then ${storm.uncorrected} uncorrected over ${storm.durationMs} ms`,
      [],
      h.backend.clock.now(),
    );
  }

  /** A remap pending until the next reset, or a failed one; `xid` also writes XID 63 (pending) or 64 (failure). */
  rowRemap(hostname: string, gpu: number, state: 'pending' | 'failure', o: { xid?: boolean } = {}): InjectionRecord {
    const h = this.o.fleet.host(hostname);
    this.gpu(h, gpu);
    h.backend.setReadingFaults(gpu, { remap: { pending: state === 'pending', failure: state === 'failure' } });
    if (o.xid) {
      const written = this.xid(hostname, gpu, state === 'failure' ? 64 : 63);
      written.kind = 'row-remap';
      written.summary = `row remap ${state} on GPU ${gpu} (with ${written.summary})`;
      return written;
    }
    return this.record(h.hostname, 'row-remap', `row remap ${state} on GPU ${gpu}`, [], h.backend.clock.now());
  }

  /** The GPU's temperature climbs to `targetC` over `rampMs`, then holds for `holdMs` (default: until cleared). */
  thermalRamp(hostname: string, gpu: number, o: { targetC: number; rampMs?: number; holdMs?: number }): InjectionRecord {
    const h = this.o.fleet.host(hostname);
    this.gpu(h, gpu);
    const ramp = { startAt: h.backend.clock.now(), durationMs: o.rampMs ?? DEFAULT_RAMP_MS, targetC: o.targetC, holdMs: o.holdMs ?? null };
    h.backend.setReadingFaults(gpu, { thermal: ramp });
    return this.record(
      h.hostname,
      'thermal',
      `GPU ${gpu} heating to ${o.targetC} °C over ${ramp.durationMs} ms${ramp.holdMs === null ? '' : `, held ${ramp.holdMs} ms`}`,
      [],
      ramp.startAt,
    );
  }

  /**
   * The GPU falls off the bus: the kernel line (XID 79, or the three-line form without a
   * number) and the GPU gone from the tool's readout; `toolFails` makes the whole tool fail
   * as nvidia-smi does when it meets a dead GPU.
   */
  fallOffBus(hostname: string, gpu: number, o: { form?: 'xid' | 'multiline'; toolFails?: boolean; timeStyle?: KernelTimeStyle } = {}): InjectionRecord {
    const h = this.nvidiaHost(hostname, 'a GPU falling off the bus');
    const ids = this.gpu(h, gpu);
    let written: InjectionRecord;
    if ((o.form ?? 'xid') === 'xid') {
      written = this.xid(hostname, gpu, 79, { timeStyle: o.timeStyle });
    } else {
      const lines = fallenOffBusLines(this.prefix(h, this.rng(hostname), o.timeStyle, 'err'), ids.pciBusId, PCI_DEVICE_IDS[h.model] ?? '10de:0000');
      written = this.write(h, 'fall-off-bus', '', lines);
    }
    h.backend.dropGpu(gpu);
    if (o.toolFails) h.backend.setToolFailure(toolFailureMessage('device-handle', ids.pciBusId));
    written.kind = 'fall-off-bus';
    written.summary = `GPU ${gpu} fell off the bus (${(o.form ?? 'xid') === 'xid' ? 'XID 79' : 'three-line record'}${o.toolFails ? ', tool fails' : ''})`;
    return written;
  }

  /** The vendor tool fails with a recorded message (or `message`) for `durationMs`, or until cleared. */
  toolFailure(hostname: string, o: { failure?: NvidiaToolFailure; message?: string; gpu?: number; durationMs?: number } = {}): InjectionRecord {
    const h = this.o.fleet.host(hostname);
    if (o.failure !== undefined && o.message !== undefined) throw new FleetError('invalid_argument', 'give a tool failure kind or a message, not both');
    if (o.failure !== undefined && !isNvidiaToolFailure(o.failure)) throw new FleetError('invalid_argument', `unknown tool failure '${String(o.failure)}'`);
    let message: string;
    if (o.message !== undefined) {
      message = o.message;
    } else {
      if (h.backend.spec.vendor !== 'nvidia')
        throw new FleetError(
          'invalid_argument',
          `${hostname} has ${h.backend.spec.vendor} GPUs: the recorded failures are nvidia-smi's; give the message text`,
        );
      message = toolFailureMessage(o.failure ?? 'gpu-lost', this.gpu(h, o.gpu ?? 0).pciBusId);
    }
    h.backend.setToolFailure(message);
    if (o.durationMs !== undefined) this.later(o.durationMs, `restore ${hostname}'s tool`, () => h.backend.setToolFailure(null));
    return this.record(
      h.hostname,
      'tool-failure',
      `${h.backend.spec.tool} fails: ${message}${o.durationMs === undefined ? '' : ` (for ${o.durationMs} ms)`}`,
      [],
      h.backend.clock.now(),
    );
  }

  /** The agent dies without closing its session; restarted after `restartAfterMs` when given. */
  async crashAgent(hostname: string, o: { restartAfterMs?: number } = {}): Promise<InjectionRecord> {
    const h = this.o.fleet.host(hostname);
    const at = h.backend.clock.now();
    await this.track(this.o.fleet.crashAgent(hostname));
    if (o.restartAfterMs !== undefined) this.later(o.restartAfterMs, `restart ${hostname}'s agent`, () => this.o.fleet.restartAgent(hostname));
    return this.record(hostname, 'agent-crash', `agent crashed${o.restartAfterMs === undefined ? '' : `, restarts after ${o.restartAfterMs} ms`}`, [], at);
  }

  /** Cuts the host's network link for `durationMs`: its session dies and it cannot reconnect meanwhile. */
  networkDrop(hostname: string, durationMs: number): InjectionRecord {
    const h = this.o.fleet.host(hostname);
    const link = h.link;
    if (!link) throw new FleetError('failed_precondition', `cutting ${hostname}'s network needs the fleet started with linkProxy: true`);
    if (!Number.isFinite(durationMs) || durationMs < 0) throw new FleetError('invalid_argument', `network drop duration must be >= 0 ms, got ${durationMs}`);
    link.cut();
    this.later(durationMs, `restore ${hostname}'s link`, () => link.restore());
    return this.record(hostname, 'network-drop', `network link cut for ${durationMs} ms`, [], h.backend.clock.now());
  }

  /** Ends reading faults, brings dropped GPUs back, makes the tool work again (one GPU, or the whole host). */
  clear(hostname: string, gpu?: number): InjectionRecord {
    const h = this.o.fleet.host(hostname);
    const gpus = gpu === undefined ? h.backend.gpuIds().map((g) => g.index) : [this.gpu(h, gpu).index];
    for (const i of gpus) {
      h.backend.setReadingFaults(i, null);
      h.backend.restoreGpu(i);
    }
    let healthCleared = 0;
    if (gpu === undefined) {
      h.backend.setToolFailure(null);
      healthCleared = this.o.fleet.workloads?.clearHealth(hostname) ?? 0;
    }
    return this.record(
      hostname,
      'clear',
      gpu === undefined
        ? `faults cleared on every GPU, tool works${healthCleared > 0 ? `, ${healthCleared} allocation health failure${healthCleared === 1 ? '' : 's'} ended` : ''}`
        : `faults cleared on GPU ${gpu}`,
      [],
      h.backend.clock.now(),
    );
  }

  /** Cancels scheduled restores and restarts; waits for those already running. */
  async dispose(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Waits for every scheduled follow-up to have run (or the timeout): restores, restarts. */
  async settle(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.timers.size > 0 || this.inFlight.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  private nvidiaHost(hostname: string, what: string): ReturnType<FaultTarget['host']> {
    const h = this.o.fleet.host(hostname);
    if (h.backend.spec.vendor !== 'nvidia')
      throw new FleetError('invalid_argument', `${hostname} has ${h.backend.spec.vendor} GPUs (${h.model}): ${what} is an NVIDIA driver event`);
    if (!h.kernelLogPath) throw new FleetError('failed_precondition', `${hostname} has no fake kernel log: start the fleet with kernelLog`);
    return h;
  }

  private gpu(h: ReturnType<FaultTarget['host']>, index: number) {
    const ids = h.backend.gpuIds().find((g) => g.index === index);
    if (!ids) throw new FleetError('invalid_argument', `${h.hostname} has GPUs 0 to ${h.backend.gpuIds().length - 1}, not ${index}`);
    return ids;
  }

  /** The n-th injection on a host draws from its own stream: independent of other hosts and of timing. */
  private rng(hostname: string): () => number {
    const n = (this.counts.get(hostname) ?? 0) + 1;
    this.counts.set(hostname, n);
    return mulberry32(hashString(`${String(this.o.seed)}:fault:${hostname}:${n}`));
  }

  private prefix(h: ReturnType<FaultTarget['host']>, rng: () => number, style: KernelTimeStyle | undefined, level: 'warn' | 'err' = 'warn'): string {
    return kernelTimePrefix(
      { uptimeMs: h.backend.uptimeMs(), epochMs: h.backend.clock.now(), micros: Math.floor(rng() * 1000) },
      style ?? this.timeStyle,
      level,
    );
  }

  private write(h: ReturnType<FaultTarget['host']>, kind: FaultKind, summary: string, lines: string[]): InjectionRecord {
    const at = h.backend.clock.now();
    // One append per record: the watcher never sees half of a multi-line record.
    appendFileSync(h.kernelLogPath!, `${lines.join('\n')}\n`);
    return this.record(h.hostname, kind, summary, lines, at);
  }

  private record(hostname: string, kind: FaultKind, summary: string, lines: string[], at: number): InjectionRecord {
    const r: InjectionRecord = { at, hostname, kind, summary, lines, writtenAt: Date.now() };
    this.history.push(r);
    this.logger.info('fault injected', { host: hostname, kind, summary });
    return r;
  }

  private later(ms: number, what: string, fn: () => unknown): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.track(Promise.resolve().then(fn)).catch((err: unknown) => {
        this.errors.push(`${what}: ${errorText(err)}`);
        this.logger.error('a scheduled fault step failed', { what, err: errorText(err) });
      });
    }, ms);
    this.timers.add(timer);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }
}
