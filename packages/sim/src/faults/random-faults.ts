import { FleetError } from '@gpufleet/protocol';
import { errorText, silentLogger, type Logger } from '@gpufleet/agent';
import type { SimHost } from '../fleet.js';
import { hashString, mulberry32 } from '../prng.js';
import type { FaultInjector, InjectionRecord } from './fault-injector.js';
import type { FaultInput } from './fault-spec.js';
import { FaultSpec } from './fault-spec.js';

export interface RandomFaultsOptions {
  hosts: () => readonly Pick<SimHost, 'hostname' | 'model' | 'backend' | 'kernelLogPath'>[];
  injector: Pick<FaultInjector, 'inject'>;
  /** Time between faults. */
  intervalMs: number;
  /** The first fault comes this long after start (so a fresh demo shows one soon). Default intervalMs. */
  firstAfterMs?: number;
  /** The host's hardware recovers (the injector's `clear`) this long after a fault. Default 10 min. */
  recoverAfterMs?: number;
  seed: string | number;
  /** Called with each fault injected (the demo prints a line). */
  onFault?: (record: InjectionRecord) => void;
  logger?: Logger;
}

/** One kind of fault the schedule picks, with its weight and the hosts it fits. */
interface MenuItem {
  weight: number;
  fits: (h: Pick<SimHost, 'model' | 'backend' | 'kernelLogPath'>) => boolean;
  spec: (hostname: string, gpu: number) => FaultInput;
}

const nvidiaLog = (h: Pick<SimHost, 'backend' | 'kernelLogPath'>) => h.backend.spec.vendor === 'nvidia' && h.kernelLogPath !== null;

// Weighted towards what a fleet sees most: application faults and heat; now and then a GPU lost.
const MENU: MenuItem[] = [
  { weight: 3, fits: nvidiaLog, spec: (host, gpu) => ({ inject: 'xid', host, gpu, code: 13 }) },
  { weight: 3, fits: () => true, spec: (host, gpu) => ({ inject: 'thermal', host, gpu, target: 92, ramp: '30s', hold: '6m' }) },
  {
    weight: 2,
    fits: (h) => h.backend.spec.eccMode === 'enabled',
    spec: (host, gpu) => ({ inject: 'ecc-storm', host, gpu, duration: '20s', corrected: 4000, uncorrected: 2 }),
  },
  { weight: 1, fits: nvidiaLog, spec: (host, gpu) => ({ inject: 'xid', host, gpu, code: 48 }) },
  { weight: 1, fits: nvidiaLog, spec: (host, gpu) => ({ inject: 'fall-off-bus', host, gpu }) },
];

/**
 * The demo's weather: every `intervalMs` one fault on a random simulated host and GPU (an
 * application XID, a thermal ramp, an ECC storm, a double-bit ECC XID, a GPU off the bus),
 * picked by a seeded random stream so the same seed gives the same sequence. The host's
 * hardware recovers after `recoverAfterMs`; the server's verdicts (a cordoned GPU) stay until
 * an operator clears them, as they would in a real fleet.
 */
export class RandomFaults {
  private timer: NodeJS.Timeout | null = null;
  private readonly recoveries = new Set<NodeJS.Timeout>();
  private readonly rng: () => number;
  private readonly logger: Logger;
  private running = false;
  /** Faults injected so far. */
  readonly injected: InjectionRecord[] = [];

  constructor(private readonly o: RandomFaultsOptions) {
    if (!Number.isFinite(o.intervalMs) || o.intervalMs < 100)
      throw new FleetError('invalid_argument', `the fault interval must be at least 100 ms, got ${o.intervalMs}`);
    this.rng = mulberry32(hashString(`${String(o.seed)}:random-faults`));
    this.logger = o.logger ?? silentLogger;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(this.o.firstAfterMs ?? this.o.intervalMs);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const t of this.recoveries) clearTimeout(t);
    this.recoveries.clear();
  }

  /** Injects one random fault now; null when no host fits any fault. */
  async injectOne(): Promise<InjectionRecord | null> {
    const hosts = this.o.hosts().filter((h) => h.backend.gpuIds().length > 0);
    const choices = hosts.flatMap((h) => MENU.filter((m) => m.fits(h)).map((m) => ({ h, m })));
    if (choices.length === 0) return null;
    const total = choices.reduce((a, c) => a + c.m.weight, 0);
    let r = this.rng() * total;
    const choice = choices.find((c) => (r -= c.m.weight) < 0) ?? choices.at(-1)!;
    const gpus = choice.h.backend.gpuIds().filter((g) => !choice.h.backend.isDropped(g.index));
    if (gpus.length === 0) return null;
    const gpu = gpus[Math.floor(this.rng() * gpus.length)]!.index;
    const record = await this.o.injector.inject(FaultSpec.parse(choice.m.spec(choice.h.hostname, gpu)));
    this.injected.push(record);
    const recover = setTimeout(() => {
      this.recoveries.delete(recover);
      this.o.injector
        .inject({ inject: 'clear', host: choice.h.hostname, gpu })
        .catch((err: unknown) => this.logger.warn('a random fault did not clear', { host: choice.h.hostname, err: errorText(err) }));
    }, this.o.recoverAfterMs ?? 600_000);
    recover.unref();
    this.recoveries.add(recover);
    this.o.onFault?.(record);
    return record;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.injectOne()
        .catch((err: unknown) => this.logger.warn('a random fault failed', { err: errorText(err) }))
        .finally(() => this.schedule(this.o.intervalMs));
    }, ms);
    this.timer.unref();
  }
}
