import type { HostFacts, HostSample } from '@gpufleet/protocol';
import { HostSampler } from '../host/host-sampler.js';
import { readHostFacts } from '../host/host-facts.js';
import type { GpuReadout, HardwareBackend } from './backend.js';
import { runTool, type ToolExec } from './tool-runner.js';
import { toolFailure, type ToolContext } from './vendor-tool.js';
import { AmdSource } from './vendors/amd-source.js';
import { AscendSource } from './vendors/ascend-source.js';
import { IntelSource } from './vendors/intel-source.js';
import { NvidiaSource } from './vendors/nvidia-source.js';
import { readout, type VendorSource } from './vendors/readout.js';

export interface RealHardwareBackendOptions {
  /** Root of /proc, /sys, /etc, /run. Default `/`. */
  rootDir?: string;
  agentVersion: string;
  /** Runs vendor tools. Default: runTool (execFile, no shell). */
  exec?: ToolExec;
  /** Longest one vendor tool may run. Default 15 s: nvidia-smi -q on 8 GPUs takes a few seconds. */
  toolTimeoutMs?: number;
  /** How often the slow full reports (nvidia-smi -q -x, amd-smi static) are read again. Default 60 s. */
  fullRefreshMs?: number;
  /** Milliseconds clock. Default: Date.now. */
  now?: () => number;
}

export const DEFAULT_TOOL_TIMEOUT_MS = 15_000;
export const DEFAULT_FULL_REFRESH_MS = 60_000;

/**
 * The hardware of the machine the agent runs on: /proc and /sys for the host, the vendor
 * tools for GPUs. A vendor whose tool is not installed is simply absent; a tool that is
 * installed but fails is reported as a ToolFailure, never thrown.
 */
export class RealHardwareBackend implements HardwareBackend {
  private readonly rootDir: string;
  private readonly agentVersion: string;
  private readonly sampler: HostSampler;
  private readonly sources: VendorSource[];
  private inFlight: Promise<GpuReadout> | null = null;

  constructor(opts: RealHardwareBackendOptions) {
    this.rootDir = opts.rootDir ?? '/';
    this.agentVersion = opts.agentVersion;
    const now = opts.now ?? Date.now;
    const fullRefreshMs = opts.fullRefreshMs ?? DEFAULT_FULL_REFRESH_MS;
    const ctx: ToolContext = { exec: opts.exec ?? runTool, timeoutMs: opts.toolTimeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS };
    this.sampler = new HostSampler({ rootDir: this.rootDir, now });
    // Output order of gpus(): nvidia, amd, intel, huawei.
    this.sources = [new NvidiaSource(ctx, now, fullRefreshMs), new AmdSource(ctx, now, fullRefreshMs), new IntelSource(ctx), new AscendSource(ctx)];
  }

  async hostFacts(): Promise<HostFacts> {
    return readHostFacts({ rootDir: this.rootDir, agentVersion: this.agentVersion });
  }

  async hostSample(): Promise<HostSample> {
    return this.sampler.sample();
  }

  /**
   * One pass over every vendor, run side by side. A caller that asks again while a pass is
   * still running (a slow tool) shares that pass instead of starting the tools twice.
   */
  gpus(): Promise<GpuReadout> {
    if (!this.inFlight) {
      this.inFlight = this.readAll().finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  private async readAll(): Promise<GpuReadout> {
    const parts = await Promise.all(
      this.sources.map((s) =>
        // Sources turn every tool problem into data already; this is the last guard of "never throw".
        s
          .read()
          .catch((err: unknown) =>
            readout([], [toolFailure(s.vendor, `${s.vendor} collector`, `collector failed: ${err instanceof Error ? err.message : String(err)}`, null)]),
          ),
      ),
    );
    return {
      snapshots: parts.flatMap((p) => p.snapshots),
      failures: parts.flatMap((p) => p.failures),
    };
  }
}
