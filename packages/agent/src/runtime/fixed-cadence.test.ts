import { afterEach, describe, expect, it } from 'vitest';
import { FixedCadence } from './fixed-cadence.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('FixedCadence', () => {
  let cadence: FixedCadence | null = null;
  afterEach(() => cadence?.stop());

  it('runs a pass every interval until stopped', async () => {
    let passes = 0;
    cadence = new FixedCadence(async () => void passes++);
    cadence.start(20);
    await sleep(110);
    cadence.stop();
    const seen = passes;
    expect(seen).toBeGreaterThanOrEqual(3);
    expect(seen).toBeLessThanOrEqual(6);
    await sleep(60);
    expect(passes).toBe(seen);
  });

  it('never overlaps passes: a pass longer than the interval makes the next one skip ahead', async () => {
    let running = 0;
    let most = 0;
    let passes = 0;
    cadence = new FixedCadence(async () => {
      running++;
      most = Math.max(most, running);
      passes++;
      await sleep(50);
      running--;
    });
    cadence.start(10);
    await sleep(230);
    cadence.stop();
    expect(most).toBe(1);
    // Back to back would be ~4 passes of 50 ms; piling up on a 10 ms cadence would be ~20.
    expect(passes).toBeGreaterThanOrEqual(2);
    expect(passes).toBeLessThanOrEqual(5);
  });

  it('start() again restarts the cadence from now with the new interval', async () => {
    let passes = 0;
    cadence = new FixedCadence(async () => void passes++);
    cadence.start(1_000);
    cadence.start(15);
    await sleep(80);
    expect(passes).toBeGreaterThanOrEqual(2);
  });
});
