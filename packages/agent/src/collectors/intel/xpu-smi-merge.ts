import type { GpuSnapshot } from '@gpufleet/protocol';
import type { XpuSmiDumpReading } from './xpu-smi-dump.js';

// Only readings move from a dump onto a device: identity always comes from discovery.
const READING_KEYS = [
  'utilizationPct',
  'powerDrawW',
  'smClockMhz',
  'temperatureC',
  'memoryTemperatureC',
  'memoryUtilizationPct',
  'memoryUsedBytes',
  'eccCorrectedVolatile',
  'eccUncorrectedVolatile',
] as const satisfies readonly (keyof XpuSmiDumpReading)[];

/**
 * Puts the latest `xpu-smi dump` readings onto the devices `xpu-smi discovery` found, matched
 * by xpu-smi device id (the snapshot's index). A device missing from the dump keeps null
 * readings; dump rows for a device discovery did not list are dropped, since without a UUID
 * or PCI address the fleet cannot tell which GPU they belong to. Inputs are not modified.
 */
export function mergeXpuSmi(discovery: GpuSnapshot[], dump: Map<number, Partial<GpuSnapshot>>): GpuSnapshot[] {
  return discovery.map((gpu) => {
    const reading = dump.get(gpu.index);
    const merged: GpuSnapshot = { ...gpu };
    if (!reading) return merged;
    for (const key of READING_KEYS) {
      const value = reading[key];
      if (value !== undefined) merged[key] = value;
    }
    return merged;
  });
}
