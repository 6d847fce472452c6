/** Injected time source so tests and the simulator control time (DESIGN.md §8.5). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
