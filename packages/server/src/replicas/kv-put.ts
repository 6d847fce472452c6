import { FleetError } from '@gpufleet/protocol';
import type { BusData, BusKv } from '../bus/bus.js';

/**
 * Writes a key whatever it holds now (create when absent, else update on the revision just read),
 * retrying when another writer got in between; returns the revision written. For records one
 * writer owns by name (a replica's own entry, a session taken over from a dead replica).
 */
export async function kvPut(kv: BusKv, key: string, value: BusData, attempts = 5): Promise<number> {
  for (let i = 1; ; i++) {
    const current = await kv.get(key);
    try {
      return current === null ? await kv.create(key, value) : await kv.update(key, value, current.revision);
    } catch (err) {
      const raced = err instanceof FleetError && (err.code === 'conflict' || err.code === 'already_exists');
      if (!raced || i >= attempts) throw err;
    }
  }
}
