import { normalizePciBusId, type GpuSample, type HEALTH_COUNTERS, type ThrottleReason } from '@gpufleet/protocol';

/** The health counters watched between samples: the part of the protocol's HEALTH_COUNTERS an agent can see change. */
export const WATCHED_COUNTERS = [
  'ecc.uncorrected.volatile',
  'ecc.corrected.volatile',
  'ecc.uncorrected.aggregate',
  'retired_pages.pending',
  'remapped_rows.pending',
  'remapped_rows.failure',
  'throttle.hw_slowdown',
  'throttle.hw_thermal_slowdown',
  'throttle.hw_power_brake_slowdown',
  'throttle.sw_thermal_slowdown',
] as const satisfies ReadonlyArray<(typeof HEALTH_COUNTERS)[number]>;
export type WatchedCounter = (typeof WATCHED_COUNTERS)[number];

/** One counter change on one GPU. `previous` is null when the first sample already showed the condition. */
export interface CounterEvent {
  gpuKey: string;
  gpuUuid: string | null;
  pciBusId: string | null;
  index: number;
  counter: WatchedCounter;
  previous: number | boolean | null;
  current: number | boolean;
}

/** What CounterWatch reads of a sample (GpuSample and GpuSnapshot both fit). */
export type CounterSample = Pick<
  GpuSample,
  | 'uuid'
  | 'pciBusId'
  | 'index'
  | 'eccCorrectedVolatile'
  | 'eccUncorrectedVolatile'
  | 'eccUncorrectedAggregate'
  | 'retiredPagesPending'
  | 'remappedRowsPending'
  | 'remappedRowsFailure'
  | 'throttleReasons'
>;

export interface CounterWatchOptions {
  /** A corrected-ECC rise larger than this between two samples is an event. Default 100. */
  correctedJump?: number;
}

const THROTTLES: [WatchedCounter, ThrottleReason][] = [
  ['throttle.hw_slowdown', 'hw_slowdown'],
  ['throttle.hw_thermal_slowdown', 'hw_thermal_slowdown'],
  ['throttle.hw_power_brake_slowdown', 'hw_power_brake_slowdown'],
  ['throttle.sw_thermal_slowdown', 'sw_thermal_slowdown'],
];

type Known = Partial<Record<WatchedCounter, number | boolean>>;

function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}

function flag(v: unknown): boolean | null {
  return typeof v === 'boolean' ? v : null;
}

/** The key a GPU keeps across samples: UUID, else PCI address, else index. */
export function counterGpuKey(s: Pick<CounterSample, 'uuid' | 'pciBusId' | 'index'>): string {
  const uuid = typeof s.uuid === 'string' ? s.uuid.trim() : '';
  if (uuid) return uuid;
  const pci = normalizePciBusId(s.pciBusId);
  return pci ? `pci:${pci}` : `index:${s.index}`;
}

/**
 * Compares each GPU's health counters with its previous sample and reports what changed:
 * an uncorrected ECC count that rose, a corrected count that jumped by more than
 * `correctedJump`, a pending / failure flag turning on or off, a hardware or thermal
 * slowdown starting or ending. The first sample of a GPU is the baseline; it reports only
 * what is bad right now (volatile uncorrected ECC above zero, a flag on, a slowdown active),
 * not lifetime counts. A value the tool did not report (null) changes nothing.
 */
export class CounterWatch {
  private readonly known = new Map<string, Known>();
  private readonly correctedJump: number;

  constructor(options: CounterWatchOptions = {}) {
    this.correctedJump = options.correctedJump ?? 100;
  }

  observe(samples: readonly CounterSample[]): CounterEvent[] {
    if (!Array.isArray(samples)) return [];
    const events: CounterEvent[] = [];
    for (const s of samples) {
      if (!s || typeof s !== 'object') continue;
      const key = counterGpuKey(s);
      let known = this.known.get(key);
      if (!known) {
        known = {};
        this.known.set(key, known);
        // Tens of GPUs per host; the bound only stops a broken tool from growing this forever.
        if (this.known.size > 256) this.known.delete(this.known.keys().next().value!);
      }
      const emit = (counter: WatchedCounter, previous: number | boolean | null, current: number | boolean) =>
        events.push({ gpuKey: key, gpuUuid: s.uuid ?? null, pciBusId: s.pciBusId ?? null, index: s.index, counter, previous, current });

      this.rising(known, 'ecc.uncorrected.volatile', count(s.eccUncorrectedVolatile), 0, true, emit);
      this.rising(known, 'ecc.uncorrected.aggregate', count(s.eccUncorrectedAggregate), 0, false, emit);
      this.rising(known, 'ecc.corrected.volatile', count(s.eccCorrectedVolatile), this.correctedJump, false, emit);
      this.toggled(known, 'retired_pages.pending', flag(s.retiredPagesPending), emit);
      this.toggled(known, 'remapped_rows.pending', flag(s.remappedRowsPending), emit);
      this.toggled(known, 'remapped_rows.failure', flag(s.remappedRowsFailure), emit);
      const active = new Set(Array.isArray(s.throttleReasons) ? s.throttleReasons : []);
      for (const [counter, reason] of THROTTLES) this.toggled(known, counter, active.has(reason), emit);
    }
    return events;
  }

  /** Forgets every GPU (the next sample is a new baseline). */
  reset(): void {
    this.known.clear();
  }

  /** A count that rose by more than `jump`; `atStart`: a first value above zero is reported too. */
  private rising(
    known: Known,
    counter: WatchedCounter,
    current: number | null,
    jump: number,
    atStart: boolean,
    emit: (c: WatchedCounter, p: number | null, v: number) => void,
  ): void {
    if (current === null) return;
    const prev = known[counter] as number | undefined;
    known[counter] = current;
    if (prev === undefined) {
      if (atStart && current > 0) emit(counter, null, current);
      return;
    }
    // A drop is a reset (driver reload, GPU reset): the new value is the new baseline.
    if (current - prev > jump) emit(counter, prev, current);
  }

  private toggled(known: Known, counter: WatchedCounter, current: boolean | null, emit: (c: WatchedCounter, p: boolean | null, v: boolean) => void): void {
    if (current === null) return;
    const prev = known[counter] as boolean | undefined;
    known[counter] = current;
    if (prev === undefined) {
      if (current) emit(counter, null, current);
      return;
    }
    if (prev !== current) emit(counter, prev, current);
  }
}
