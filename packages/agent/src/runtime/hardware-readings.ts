import {
  HostSample,
  InventoryBody,
  ToolFailure as ToolFailureSchema,
  gpuInfoOf,
  gpuSampleOf,
  type GpuInfo,
  type GpuSample,
  type GpuSnapshot,
  type HostFacts,
  type ToolFailure,
} from '@gpufleet/protocol';
import type { GpuReadout, HardwareBackend } from '../hardware/backend.js';
import { GpuChangeTracker, type GpuChanges } from './gpu-changes.js';
import { errorText, type Logger } from './logger.js';

/** One GPU readout as the agent uses it: the samples to send, what changed, the snapshots that passed. */
export interface GpuReadings {
  samples: GpuSample[];
  snapshots: GpuSnapshot[];
  changes: GpuChanges;
}

export interface HardwareReadingsOptions {
  backend: HardwareBackend;
  logger: Logger;
  /** Counts readings that threw or did not match the protocol (the agent's stats). */
  stats: { collectionErrors: number };
}

/**
 * What the agent knows of its host, read from the hardware backend and checked against the
 * protocol: host facts, host samples, GPU samples and the changes between readouts, and the
 * inventory built from them. A reading that throws or does not validate is counted, logged and
 * skipped; it never takes the agent down.
 */
export class HardwareReadings {
  private facts: HostFacts | null = null;
  private readonly tracker = new GpuChangeTracker();

  constructor(private readonly o: HardwareReadingsOptions) {}

  /** The host facts, null until a read succeeded. */
  get hostFacts(): HostFacts | null {
    return this.facts;
  }

  /** The GPUs of the last good readout (none before the first). */
  get snapshots(): readonly GpuSnapshot[] {
    return this.tracker.latest?.snapshots ?? [];
  }

  async refreshHostFacts(): Promise<void> {
    try {
      this.facts = await this.o.backend.hostFacts();
    } catch (err) {
      this.o.stats.collectionErrors++;
      this.o.logger.warn('could not read host facts; will retry', { err: errorText(err) });
    }
  }

  async hostSample(): Promise<HostSample | null> {
    try {
      const parsed = HostSample.safeParse(await this.o.backend.hostSample());
      if (parsed.success) return parsed.data;
      this.o.stats.collectionErrors++;
      this.o.logger.warn('host sample is out of range; skipped', { issue: `${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}` });
    } catch (err) {
      this.o.stats.collectionErrors++;
      this.o.logger.warn('could not sample the host', { err: errorText(err) });
    }
    return null;
  }

  /** Reads the GPUs and what changed since the last readout; null when the read failed. */
  async gpus(): Promise<GpuReadings | null> {
    let readout: GpuReadout;
    try {
      readout = await this.o.backend.gpus();
      if (!readout || !Array.isArray(readout.snapshots) || (readout.failures !== undefined && !Array.isArray(readout.failures))) {
        throw new Error('the hardware backend returned a malformed GPU readout');
      }
    } catch (err) {
      this.o.stats.collectionErrors++;
      this.o.logger.warn('could not read the GPUs', { err: errorText(err) });
      return null;
    }
    const samples: GpuSample[] = [];
    const snapshots: GpuSnapshot[] = [];
    for (const snap of readout.snapshots) {
      try {
        samples.push(gpuSampleOf(snap));
        snapshots.push(snap);
      } catch (err) {
        this.o.stats.collectionErrors++;
        this.o.logger.warn('a GPU snapshot does not match the protocol; skipped', { index: snap?.index ?? null, err: errorText(err).slice(0, 300) });
      }
    }
    const failures: ToolFailure[] = [];
    for (const f of readout.failures ?? []) {
      const parsed = ToolFailureSchema.safeParse(f && typeof f === 'object' ? { ...f, message: String(f.message).slice(0, 4096) } : f);
      if (parsed.success) failures.push(parsed.data);
      else this.o.stats.collectionErrors++;
    }
    const changes = this.tracker.observe({ snapshots, failures });
    return { samples: samples.slice(0, 64), snapshots, changes };
  }

  /** The inventory to send now; null (logged) while the host facts are unknown or it does not validate. */
  inventory(agentVersion: string): InventoryBody | null {
    if (!this.facts) {
      this.o.logger.warn('no inventory sent yet: host facts are not readable');
      return null;
    }
    const gpus: GpuInfo[] = [];
    for (const s of this.snapshots) {
      try {
        gpus.push(gpuInfoOf(s));
      } catch {
        // Already counted when the sample was refused.
      }
    }
    const toolFailures = (this.tracker.latest?.failures ?? []).slice(0, 16).map((f) => ({ ...f, message: f.message.slice(0, 4096) }));
    const parsed = InventoryBody.safeParse({ host: { ...this.facts, agentVersion }, gpus: gpus.slice(0, 64), toolFailures });
    if (!parsed.success) {
      this.o.stats.collectionErrors++;
      this.o.logger.error('inventory does not match the protocol; not sent', {
        issue: `${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
      });
      return null;
    }
    return parsed.data;
  }
}
