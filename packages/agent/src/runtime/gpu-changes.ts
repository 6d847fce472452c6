import type { AgentEvent, GpuSnapshot, ToolFailure } from '@gpufleet/protocol';
import type { GpuReadout } from '../hardware/backend.js';
import { gpuKey } from '../hardware/gpu-identity.js';

/** An event as a collector or health watcher reports it; the agent fills in id and ts. */
export interface NewAgentEvent {
  kind: AgentEvent['kind'];
  message: string;
  gpuUuid?: string | null;
  pciBusId?: string | null;
  data?: Record<string, unknown>;
  ts?: number;
}

/** What one readout changed. */
export interface GpuChanges {
  /** The GPU set or the set of failing tools changed: the server needs a new inventory. */
  inventoryChanged: boolean;
  events: NewAgentEvent[];
}

function failureKey(f: ToolFailure): string {
  return `${f.vendor}/${f.tool}`;
}

function describe(s: GpuSnapshot, key: string): string {
  return `GPU ${s.index} (${s.name ?? 'unknown model'}, ${s.pciBusId ?? s.uuid ?? key})`;
}

/**
 * Compares each GPU readout with the previous one and with the first one (the GPUs present at
 * start): GPUs appearing or disappearing, tools starting or stopping to fail, and boot GPUs
 * going missing and coming back. Each change is reported once, not on every pass.
 */
export class GpuChangeTracker {
  private last: GpuReadout | null = null;
  private boot: Map<string, GpuSnapshot> | null = null;
  private readonly missing = new Set<string>();

  /** The last readout observed. */
  get latest(): GpuReadout | null {
    return this.last;
  }

  observe(readout: GpuReadout): GpuChanges {
    const prev = this.last;
    this.last = readout;
    const events: NewAgentEvent[] = [];
    const keys = new Set(readout.snapshots.map(gpuKey));
    let inventoryChanged = prev !== null && !sameSet(keys, new Set(prev.snapshots.map(gpuKey)));

    const failures = new Map(readout.failures.map((f) => [failureKey(f), f]));
    const prevFailures = new Map((prev?.failures ?? []).map((f) => [failureKey(f), f]));
    for (const [k, f] of failures) {
      if (prevFailures.has(k)) continue;
      inventoryChanged = true;
      events.push({ kind: 'tool-failure', message: `${f.tool} failed: ${f.message}`, data: { vendor: f.vendor, tool: f.tool, exitCode: f.exitCode } });
    }
    for (const [k, f] of prevFailures) {
      if (failures.has(k)) continue;
      inventoryChanged = true;
      events.push({ kind: 'tool-recovered', message: `${f.tool} works again`, data: { vendor: f.vendor, tool: f.tool } });
    }

    if (this.boot === null) {
      this.boot = new Map(readout.snapshots.map((s) => [gpuKey(s), s]));
      return { inventoryChanged, events };
    }
    // A failing tool hides its GPUs without saying they are gone: judge only vendors whose tool answered.
    const blind = new Set(readout.failures.map((f) => f.vendor));
    for (const [k, s] of this.boot) {
      const present = keys.has(k);
      const data = { index: s.index, name: s.name, vendor: s.vendor };
      if (!present && !blind.has(s.vendor) && !this.missing.has(k)) {
        this.missing.add(k);
        events.push({ kind: 'gpu-missing', gpuUuid: s.uuid, pciBusId: s.pciBusId, message: `${describe(s, k)} present at start is missing`, data });
      } else if (present && this.missing.has(k)) {
        this.missing.delete(k);
        events.push({ kind: 'gpu-returned', gpuUuid: s.uuid, pciBusId: s.pciBusId, message: `${describe(s, k)} is back`, data });
      }
    }
    return { inventoryChanged, events };
  }
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const k of a) if (!b.has(k)) return false;
  return true;
}
