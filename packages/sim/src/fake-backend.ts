import { createHash } from 'node:crypto';
import { emptyGpuSnapshot, FleetError, type GpuSnapshot, type HostFacts, type HostSample, type ThrottleReason, type ToolFailure } from '@gpufleet/protocol';
import type { Clock, GpuReadout, HardwareBackend } from '@gpufleet/agent';
import { GPU_MODELS, isSimGpuModel, type GpuModelSpec, type SimGpuModel } from './gpu-models.js';
import { clamp, mix32, smoothNoise, unitHash } from './prng.js';

export interface FakeHardwareBackendOptions {
  hostname: string;
  model: SimGpuModel;
  /** GPUs in the host. Default 8. */
  gpuCount?: number;
  seed: string | number;
  clock: Clock;
  /** Reported in the host facts. Default 'sim'. */
  agentVersion?: string;
}

const MiB = 2 ** 20;
const MINUTE = 60_000;
const ROOT_DISK_BYTES = 3_840_000_000_000;

interface SimGpu {
  index: number;
  key: number;
  uuid: string;
  pciBusId: string;
  serial: string;
}

/** Identity of one simulated GPU (what a fault injector needs to write kernel lines about it). */
export interface SimGpuIds {
  index: number;
  uuid: string;
  /** Canonical `0000:bb:dd.f`. */
  pciBusId: string;
}

/**
 * The temperature climbing linearly from its natural reading at `startAt` to `targetC` over
 * `durationMs`, then held there for `holdMs` (null: until cleared), then natural again.
 */
export interface ThermalRamp {
  startAt: number;
  durationMs: number;
  targetC: number;
  holdMs: number | null;
}

/**
 * An ECC storm: over `durationMs` from `startAt` the corrected count climbs to `corrected`
 * (most of it in the first half: a jump), then the uncorrected count goes up one by one to
 * `uncorrected` over the second half. Counts stay afterwards (volatile counters keep until a
 * driver reload; aggregates for ever).
 */
export interface EccStorm {
  startAt: number;
  durationMs: number;
  corrected: number;
  uncorrected: number;
}

/** Row remapping state: a remap pending until the next reset, or a failed remap (no spare rows). */
export interface RowRemapFault {
  pending: boolean;
  failure: boolean;
}

/**
 * Faults laid over one GPU's natural readings. Each is a function of the clock, so readings
 * stay a pure function of (seed, hostname, time, faults).
 */
export interface GpuReadingFaults {
  thermal?: ThermalRamp | null;
  ecc?: EccStorm | null;
  remap?: RowRemapFault | null;
}

/**
 * One simulated host with the hardware backend interface the real agent uses. Readings are a
 * pure function of (seed, hostname, clock time): the same seed and times give the same outputs,
 * however often they are read. A slow per-host "job" level drives utilization (a bounded
 * random walk); temperature follows utilization with a lag; power and memory follow the job.
 */
export class FakeHardwareBackend implements HardwareBackend {
  readonly hostname: string;
  readonly spec: GpuModelSpec;
  /** The clock readings (and the fault ramps laid over them) follow. */
  readonly clock: Clock;
  private readonly hostKey: number;
  private readonly gpusList: SimGpu[];
  private readonly bootTime: number;
  private readonly agentVersion: string;
  private readonly mac: string;
  private readonly address: string;
  private toolFailureMessage: string | null = null;
  private readonly dropped = new Set<number>();
  private readonly faults = new Map<number, GpuReadingFaults>();

  constructor(o: FakeHardwareBackendOptions) {
    if (!isSimGpuModel(o.model))
      throw new FleetError('invalid_argument', `unknown simulated GPU model '${String(o.model)}' (one of ${Object.keys(GPU_MODELS).join(', ')})`);
    const gpuCount = o.gpuCount ?? 8;
    if (!Number.isInteger(gpuCount) || gpuCount < 0 || gpuCount > 64)
      throw new FleetError('invalid_argument', `gpuCount must be an integer from 0 to 64, got ${gpuCount}`);
    if (!o.hostname || o.hostname.length > 253) throw new FleetError('invalid_argument', 'hostname must be 1 to 253 characters');
    this.hostname = o.hostname;
    this.spec = GPU_MODELS[o.model];
    this.clock = o.clock;
    this.agentVersion = o.agentVersion ?? 'sim';
    const digest = createHash('sha256')
      .update(`${String(o.seed)}:${o.hostname}`)
      .digest();
    this.hostKey = digest.readUInt32BE(0);
    this.bootTime = o.clock.now() - Math.floor((1 + (digest.readUInt32BE(4) % 60)) * 24 * 60 * MINUTE * (0.5 + unitHash(this.hostKey, 9)));
    this.mac = `02:${[...digest.subarray(8, 13)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    this.address = `10.${digest[13]! % 256}.${digest[14]! % 256}.${1 + (digest[15]! % 254)}`;
    this.gpusList = this.makeGpus(o.seed, gpuCount);
  }

  private makeGpus(seed: string | number, count: number): SimGpu[] {
    // Bus numbers: distinct, ascending, spread like a real 8-GPU board; derived from seed+hostname.
    const buses = new Set<number>();
    for (let attempt = 0; buses.size < count; attempt++) buses.add(0x10 + (mix32(this.hostKey, 1000 + attempt) % 0xe0));
    const sorted = [...buses].sort((a, b) => a - b);
    return sorted.map((bus, index) => {
      const d = createHash('sha256')
        .update(`${String(seed)}:${this.hostname}:gpu:${index}`)
        .digest('hex');
      const uuid =
        this.spec.vendor === 'amd'
          ? `0x${d.slice(0, 16)}` // rocm-smi's "Unique ID" form
          : `GPU-${d.slice(0, 8)}-${d.slice(8, 12)}-${d.slice(12, 16)}-${d.slice(16, 20)}-${d.slice(20, 32)}`;
      const serial = String(BigInt(`0x${d.slice(32, 46)}`) % 10_000_000_000_000n).padStart(13, '1');
      return { index, key: mix32(this.hostKey, index + 1), uuid, pciBusId: `0000:${bus.toString(16).padStart(2, '0')}:00.0`, serial };
    });
  }

  /** Makes the vendor tool fail (message) or work again (null): the GPUs vanish from readouts meanwhile. */
  setToolFailure(message: string | null): void {
    this.toolFailureMessage = message;
  }

  /** Makes one GPU disappear from readouts, as if it fell off the bus. */
  dropGpu(index: number): void {
    if (!this.gpusList.some((g) => g.index === index)) throw new FleetError('invalid_argument', `${this.hostname} has no GPU ${index}`);
    this.dropped.add(index);
  }

  /** Brings a dropped GPU back. */
  restoreGpu(index: number): void {
    this.dropped.delete(index);
  }

  /** The GPUs of this host (dropped ones included), in index order. */
  gpuIds(): SimGpuIds[] {
    return this.gpusList.map((g) => ({ index: g.index, uuid: g.uuid, pciBusId: g.pciBusId }));
  }

  /** Milliseconds since the simulated boot (the kernel clock of the host's kernel log). */
  uptimeMs(): number {
    return Math.max(0, this.clock.now() - this.bootTime);
  }

  /** The message the vendor tool fails with now, or null while it works. */
  get toolFailure(): string | null {
    return this.toolFailureMessage;
  }

  /** Whether a GPU is dropped (fell off the bus). */
  isDropped(index: number): boolean {
    return this.dropped.has(index);
  }

  /**
   * Lays faults over one GPU's readings; keys given replace the GPU's current ones (null or
   * undefined values clear them), `null` clears them all. Throws for a GPU the host lacks, and
   * for a fault the model cannot show (ECC on a part without ECC reporting, row remapping on a
   * part without remapping counters).
   */
  setReadingFaults(index: number, faults: GpuReadingFaults | null): void {
    if (!this.gpusList.some((g) => g.index === index)) throw new FleetError('invalid_argument', `${this.hostname} has no GPU ${index}`);
    if (faults === null) {
      this.faults.delete(index);
      return;
    }
    if (faults.ecc && this.spec.eccMode !== 'enabled')
      throw new FleetError('invalid_argument', `${this.hostname} is a ${this.spec.model} host: its tool reports no ECC counters, so an ECC storm cannot show`);
    if (faults.remap && !this.spec.remapsRows)
      throw new FleetError(
        'invalid_argument',
        `${this.hostname} is a ${this.spec.model} host: its tool reports no row remapping, so a remap fault cannot show`,
      );
    if (faults.thermal) checkThermal(faults.thermal);
    if (faults.ecc) checkEcc(faults.ecc);
    const merged: GpuReadingFaults = { ...this.faults.get(index) };
    for (const key of ['thermal', 'ecc', 'remap'] as const) {
      if (!(key in faults)) continue;
      if (faults[key]) (merged as Record<string, unknown>)[key] = { ...faults[key] };
      else delete merged[key];
    }
    if (Object.keys(merged).length === 0) this.faults.delete(index);
    else this.faults.set(index, merged);
  }

  /** The faults on one GPU's readings (a copy; empty when none). */
  readingFaults(index: number): GpuReadingFaults {
    return structuredClone(this.faults.get(index) ?? {});
  }

  /** How busy the host's job is at time t: 0 idle .. 1 full; long idle and busy stretches. */
  private jobLevel(t: number): number {
    const n = 0.7 * smoothNoise(this.hostKey, t, 40 * MINUTE) + 0.3 * smoothNoise(this.hostKey ^ 0x5bd1e995, t, 7 * MINUTE);
    return clamp((n - 0.3) / 0.35, 0, 1);
  }

  private utilization(gpu: SimGpu, t: number): number {
    const job = this.jobLevel(t);
    if (job === 0) return 0;
    const wobble = smoothNoise(gpu.key, t, 30_000);
    const flicker = smoothNoise(gpu.key ^ 0x27d4eb2d, t, 5_000);
    return clamp(100 * job * (0.8 + 0.2 * wobble) + 6 * (flicker - 0.5) * job, 0, 100);
  }

  private naturalTemp(gpu: SimGpu, t: number): number {
    const s = this.spec;
    // Thermal lag: the die follows the load of the last couple of minutes, not the instant one.
    const lagged = (this.utilization(gpu, t - 20_000) + this.utilization(gpu, t - 60_000) + this.utilization(gpu, t - 120_000)) / 300;
    const offset = (unitHash(gpu.key, 77) - 0.5) * 3; // each GPU sits a little warmer or cooler
    return Math.round(s.idleTempC + offset + (s.loadTempC - s.idleTempC) * lagged + (smoothNoise(gpu.key ^ 0x68e31da4, t, 10_000) - 0.5));
  }

  /** The temperature with a thermal ramp applied (natural outside the ramp's time span). */
  private temperature(gpu: SimGpu, t: number, ramp: ThermalRamp | null | undefined): number {
    const natural = this.naturalTemp(gpu, t);
    if (!ramp || t < ramp.startAt) return natural;
    const elapsed = t - ramp.startAt;
    if (ramp.holdMs !== null && elapsed >= ramp.durationMs + ramp.holdMs) return natural;
    if (elapsed >= ramp.durationMs) return ramp.targetC;
    const from = this.naturalTemp(gpu, ramp.startAt);
    return Math.round(from + (ramp.targetC - from) * (elapsed / ramp.durationMs));
  }

  private snapshot(gpu: SimGpu, t: number): GpuSnapshot {
    const s = this.spec;
    const util = this.utilization(gpu, t);
    const faults = this.faults.get(gpu.index);
    const temp = this.temperature(gpu, t, faults?.thermal);
    const powerCeiling = s.powerLimitW * 0.95;
    const power = Math.min(
      s.powerLimitW,
      s.idlePowerW + (powerCeiling - s.idlePowerW) * (util / 100) + 4 * (smoothNoise(gpu.key ^ 0x1b873593, t, 3_000) - 0.5),
    );
    const job = this.jobLevel(t);
    const memUsed =
      job === 0 ? 1 * MiB : Math.round((s.memoryTotalBytes * job * (0.55 + 0.35 * smoothNoise(gpu.key ^ 0x4f6cdd1d, t, 10 * MINUTE))) / MiB) * MiB;
    const powerCapped = power >= s.powerLimitW * 0.94;
    const throttle: ThrottleReason[] = util < 1 ? ['gpu_idle'] : powerCapped ? ['sw_power_cap'] : [];
    const busy = util >= 1;
    const ecc = eccCounts(faults?.ecc, t);
    const remap = faults?.remap;
    // Parts without ECC reporting say N/A for every ECC counter.
    const eccReported = s.eccMode === 'enabled';
    return {
      ...emptyGpuSnapshot(s.vendor, gpu.index),
      uuid: gpu.uuid,
      name: s.name,
      pciBusId: gpu.pciBusId,
      serial: gpu.serial,
      memoryTotalBytes: s.memoryTotalBytes,
      driverVersion: s.driverVersion,
      runtimeVersion: s.runtimeVersion,
      vbiosVersion: s.vbiosVersion,
      powerLimitW: s.powerLimitW,
      migMode: s.migMode,
      eccMode: s.eccMode,
      temperatureC: temp,
      memoryTemperatureC: s.memoryTempOffsetC === null ? null : temp + s.memoryTempOffsetC,
      utilizationPct: Math.round(util),
      memoryUtilizationPct: Math.round(util * 0.55),
      memoryUsedBytes: memUsed,
      powerDrawW: Math.round(power * 100) / 100,
      smClockMhz: busy ? Math.round(s.maxSmClockMhz * (powerCapped ? 0.9 : 1)) : s.idleSmClockMhz,
      memClockMhz: busy ? s.maxMemClockMhz : s.idleMemClockMhz,
      fanPct: null, // datacenter parts: the tools say N/A
      eccCorrectedVolatile: eccReported ? ecc.corrected : null,
      eccUncorrectedVolatile: eccReported ? ecc.uncorrected : null,
      eccCorrectedAggregate: eccReported ? ecc.corrected : null,
      eccUncorrectedAggregate: eccReported ? ecc.uncorrected : null,
      remappedRowsCorrectable: s.remapsRows ? 0 : null,
      // A remap (pending or failed) is what an uncorrectable error in a row leads to.
      remappedRowsUncorrectable: s.remapsRows ? (remap && (remap.pending || remap.failure) ? 1 : 0) : null,
      remappedRowsPending: s.remapsRows ? Boolean(remap?.pending) : null,
      remappedRowsFailure: s.remapsRows ? Boolean(remap?.failure) : null,
      throttleReasons: throttle,
      // nvidia-smi -q's "Replays Since Reset": most links never replay; about one GPU in eight
      // has a marginal link that replays a few times an hour since boot (other tools: not reported).
      pcieReplayCount: s.vendor === 'nvidia' ? (gpu.key % 8 === 0 ? Math.floor(Math.max(0, t - this.bootTime) / (15 * MINUTE)) : 0) : null,
    };
  }

  async hostFacts(): Promise<HostFacts> {
    const h = this.spec.host;
    return {
      hostname: this.hostname,
      os: { id: 'gpufleet-sim', name: 'gpufleet simulated host', version: '1' },
      kernel: '6.8.0-gpufleet-sim',
      arch: 'x86_64',
      cpu: { model: h.cpuModel, cores: h.cores, threads: h.threads },
      memoryTotalBytes: h.memoryTotalBytes,
      disks: [{ device: '/dev/nvme0n1p2', mount: '/', fsType: 'ext4', totalBytes: ROOT_DISK_BYTES, usedBytes: this.diskUsed(this.clock.now()) }],
      network: [{ name: 'eth0', mac: this.mac, addresses: [this.address] }],
      containerRuntime: null,
      agentVersion: this.agentVersion,
      bootTime: this.bootTime,
    };
  }

  private diskUsed(t: number): number {
    return Math.round(ROOT_DISK_BYTES * (0.2 + 0.5 * smoothNoise(this.hostKey ^ 0x2545f491, t, 240 * MINUTE)));
  }

  async hostSample(): Promise<HostSample> {
    const t = this.clock.now();
    const h = this.spec.host;
    const job = this.jobLevel(t);
    const cpuPct = clamp(1.5 + 35 * job + 4 * smoothNoise(this.hostKey ^ 0x7feb352d, t, 15_000), 0, 100);
    const load = (cpuPct / 100) * h.threads;
    const lagLoad = ((this.jobLevel(t - 5 * MINUTE) * 35 + 1.5) / 100) * h.threads;
    const lagLoad15 = ((this.jobLevel(t - 15 * MINUTE) * 35 + 1.5) / 100) * h.threads;
    const rate = 2e6 + 1.2e9 * job * smoothNoise(this.hostKey ^ 0x846ca68b, t, 20_000);
    return {
      cpuPct: Math.round(cpuPct * 10) / 10,
      load1: Math.round(load * 100) / 100,
      load5: Math.round(lagLoad * 100) / 100,
      load15: Math.round(lagLoad15 * 100) / 100,
      memoryUsedBytes: Math.round(h.memoryTotalBytes * (0.04 + 0.5 * job)),
      memoryTotalBytes: h.memoryTotalBytes,
      disks: [{ mount: '/', usedBytes: this.diskUsed(t), totalBytes: ROOT_DISK_BYTES }],
      net: [{ name: 'eth0', rxBytesPerSec: Math.round(rate), txBytesPerSec: Math.round(rate * 0.6) }],
    };
  }

  async gpus(): Promise<GpuReadout> {
    if (this.toolFailureMessage !== null) {
      const failure: ToolFailure = {
        vendor: this.spec.vendor,
        tool: this.spec.tool,
        message: this.toolFailureMessage,
        exitCode: this.spec.vendor === 'nvidia' ? 18 : 1,
      };
      return { snapshots: [], failures: [failure] };
    }
    const t = this.clock.now();
    return { snapshots: this.gpusList.filter((g) => !this.dropped.has(g.index)).map((g) => this.snapshot(g, t)), failures: [] };
  }
}

/** ECC counts of a storm at time t (0 and 0 before it, or without one). */
function eccCounts(storm: EccStorm | null | undefined, t: number): { corrected: number; uncorrected: number } {
  if (!storm || t < storm.startAt) return { corrected: 0, uncorrected: 0 };
  const p = storm.durationMs === 0 ? 1 : clamp((t - storm.startAt) / storm.durationMs, 0, 1);
  // Corrected errors come in a burst (90 % within the first half), then trickle.
  const correctedShare = p < 0.5 ? 0.9 * (p / 0.5) : 0.9 + 0.1 * ((p - 0.5) / 0.5);
  const uncorrectedShare = p < 0.5 ? 0 : (p - 0.5) / 0.5;
  return {
    corrected: Math.round(storm.corrected * correctedShare),
    // Never ahead of the storm's end: the last one lands exactly at startAt + durationMs.
    uncorrected: p >= 1 ? storm.uncorrected : Math.min(storm.uncorrected, Math.floor(storm.uncorrected * uncorrectedShare + 1e-9)),
  };
}

function checkThermal(r: ThermalRamp): void {
  if (!Number.isFinite(r.startAt)) throw new FleetError('invalid_argument', 'thermal ramp startAt must be a time in ms');
  if (!Number.isFinite(r.durationMs) || r.durationMs < 0)
    throw new FleetError('invalid_argument', `thermal ramp duration must be >= 0 ms, got ${r.durationMs}`);
  if (!Number.isFinite(r.targetC) || r.targetC < 0 || r.targetC > 150)
    throw new FleetError('invalid_argument', `thermal ramp target must be from 0 to 150 °C, got ${r.targetC}`);
  if (r.holdMs !== null && (!Number.isFinite(r.holdMs) || r.holdMs < 0))
    throw new FleetError('invalid_argument', `thermal ramp hold must be >= 0 ms or null, got ${r.holdMs}`);
}

function checkEcc(e: EccStorm): void {
  if (!Number.isFinite(e.startAt)) throw new FleetError('invalid_argument', 'ECC storm startAt must be a time in ms');
  if (!Number.isFinite(e.durationMs) || e.durationMs < 0) throw new FleetError('invalid_argument', `ECC storm duration must be >= 0 ms, got ${e.durationMs}`);
  for (const [name, v] of [
    ['corrected', e.corrected],
    ['uncorrected', e.uncorrected],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new FleetError('invalid_argument', `ECC storm ${name} count must be a whole number >= 0, got ${v}`);
  }
}
