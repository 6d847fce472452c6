import { describe, expect, it } from 'vitest';
import type { RunProgress } from '../store/run-records.js';
import { RunWriter } from './run-writer.js';

/** A store whose writes are recorded, and fail while `failing` is set. */
function fakeStore() {
  const writes: RunProgress[] = [];
  const store = {
    failing: false,
    writes,
    async saveRunProgress(p: RunProgress): Promise<number> {
      if (store.failing) throw new Error('disk full');
      writes.push(p);
      return p.output.length;
    },
  };
  return store;
}

const chunk = (i: number) => ({ runId: 'r1', nodeId: 'n1', stream: 'stdout' as const, chunk: i, data: `line ${i}\n`, at: i });

describe('RunWriter.settled', () => {
  it('resolves once the output taken so far is stored, many callers in one write', async () => {
    const store = fakeStore();
    const w = new RunWriter({ store, log: { warn: () => undefined } });
    w.chunk(chunk(0));
    w.chunk(chunk(1));
    await Promise.all([w.settled(), w.settled()]);
    expect(store.writes).toHaveLength(1);
    expect(store.writes[0]!.output.map((o) => o.chunk)).toEqual([0, 1]);
  });

  it('is not postponed by a steady stream of callers', async () => {
    const store = fakeStore();
    const w = new RunWriter({ store, log: { warn: () => undefined } });
    const started = Date.now();
    let stop = false;
    // A caller every 5 ms, for longer than the short delay: the first write still happens within it.
    const feeding = (async () => {
      for (let i = 0; !stop; i++) {
        w.chunk(chunk(i));
        void w.settled();
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await w.settled();
    const waited = Date.now() - started;
    stop = true;
    await feeding;
    await w.close();
    expect(waited).toBeLessThan(200);
    expect(store.writes.length).toBeGreaterThan(0);
  });

  it('keeps callers waiting while the store fails, and lets them go once a write succeeds', async () => {
    const store = fakeStore();
    store.failing = true;
    const w = new RunWriter({ store, delayMs: 5, log: { warn: () => undefined } });
    w.chunk(chunk(0));
    let done = false;
    const waiting = w.settled().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 60));
    expect(done).toBe(false);
    store.failing = false;
    await waiting;
    expect(store.writes[0]!.output.map((o) => o.chunk)).toEqual([0]);
  });

  it('resolves at once when nothing is pending', async () => {
    const w = new RunWriter({ store: fakeStore(), log: { warn: () => undefined } });
    await expect(w.settled()).resolves.toBeUndefined();
  });
});
