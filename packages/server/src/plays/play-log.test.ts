import { describe, expect, it } from 'vitest';
import type { PlayEventView } from '@gpufleet/protocol';
import type { PlayEventRecord, Store } from '../store/store.js';
import { PlayLog } from './play-log.js';

function memoryStore(): { store: Store; rows: PlayEventRecord[] } {
  const rows: PlayEventRecord[] = [];
  const store = { appendPlayEvents: async (events: PlayEventRecord[]) => void rows.push(...events) } as unknown as Store;
  return { store, rows };
}

describe('play log', () => {
  it('numbers events, stores them in batches, publishes only what is stored, cuts at the bound with one note', async () => {
    const { store, rows } = memoryStore();
    const published: PlayEventView[] = [];
    const log = new PlayLog({
      playId: 'p',
      store,
      clock: { now: () => 5 },
      publish: (e) => published.push(e),
      onError: (e) => expect.fail(String(e)),
      max: 3,
      flushMs: 10_000,
    });
    for (let i = 0; i < 6; i++) log.add({ kind: 'output', host: null, task: null, status: null, message: `m${i}` });
    expect(published).toEqual([]);
    await log.flush();
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(rows.at(-1)!.message).toMatch(/cut at 3 events/);
    expect(published.map((e) => e.message)).toEqual(['m0', 'm1', 'm2', rows.at(-1)!.message]);
    expect(published[0]!.at).toBe(new Date(5).toISOString());
  });
});
