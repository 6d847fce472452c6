// Small pieces every benchmark shares: the machine it ran on, rounding, waiting.
import { cpus, totalmem } from 'node:os';

/** What a result file says about the machine, so figures are compared on like machines only. */
export function machineInfo(): { cpus: number; cpuModel: string; memoryGiB: number; node: string } {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

/** One decimal place. */
export function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
