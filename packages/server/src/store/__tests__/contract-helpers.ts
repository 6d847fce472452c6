import { FleetError, type ErrorCode } from '@gpufleet/protocol';
import { expect } from 'vitest';
import type { Store } from '../store.js';

/** The current store of a running contract test. */
export type StoreRef = () => Store;

/** Awaits a rejection that is a FleetError with the given code. */
export async function expectFleetError(work: Promise<unknown>, code: ErrorCode): Promise<FleetError> {
  const err = await work.then(
    () => {
      throw new Error(`expected a FleetError '${code}', but it resolved`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FleetError);
  expect((err as FleetError).code).toBe(code);
  return err as FleetError;
}
