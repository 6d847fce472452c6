import { FleetError, type ErrorCode } from '@gpufleet/protocol';
import { expect } from 'vitest';
import type { Bus, BusMessage } from '../bus.js';

/** What the Bus contract's parts share: the fixture an implementation gives, the buses of a test, small helpers. */

export interface BusFixture {
  /** Another bus on this test's backend: each call stands for another replica. */
  open(options?: { drainTimeoutMs?: number }): Promise<Bus>;
  /** Lets time pass for TTLs: a test clock moves at once, a real server needs real waiting. */
  elapse(ms: number): Promise<void>;
  /** The KV TTL the expiry test uses: as short as the implementation judges reliably. */
  ttlMs: number;
  /** Closes the buses and removes what the test left on the backend. */
  cleanup(): Promise<void>;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until check passes (returns truthy without throwing), or fails with its last error. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      const value = await check();
      if (value) return value;
      failure = new Error(`still ${String(value)} after ${timeoutMs} ms`);
    } catch (err) {
      failure = err;
    }
    if (Date.now() > deadline) throw failure;
    await sleep(10);
  }
}

/** Expects work (a call, sync or async) to fail with a FleetError of the code. */
export async function expectFleetError(work: () => unknown, code: ErrorCode): Promise<FleetError> {
  let err: unknown;
  try {
    await work();
  } catch (e) {
    err = e;
  }
  expect(err, `expected FleetError '${code}'`).toBeInstanceOf(FleetError);
  expect((err as FleetError).code).toBe(code);
  return err as FleetError;
}

/** A gate a handler waits on until the test opens it. */
export function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

export const seen = (msgs: BusMessage[]) => msgs.map((m) => `${m.subject}=${JSON.stringify(m.json())}`);

/** The buses of the running test (two replicas on one backend), set before each test. */
export interface ContractState {
  fixture: BusFixture;
  a: Bus;
  b: Bus;
}
