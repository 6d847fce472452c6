import { afterEach, beforeEach, describe } from 'vitest';
import type { BusFixture, ContractState } from './bus-contract-kit.js';
import { describeCorePubSub } from './bus-contract-core.js';
import { describeDurableStreams } from './bus-contract-durable.js';
import { describeGarbageIn } from './bus-contract-garbage.js';
import { describeKeyValue } from './bus-contract-kv.js';

export type { BusFixture } from './bus-contract-kit.js';

/**
 * The one contract every Bus implementation passes (DESIGN.md §8.6). Each test gets a fresh
 * backend; buses opened on it stand for replicas of one control plane. Its parts are one file each.
 */
export function describeBusContract(name: string, makeFixture: () => Promise<BusFixture>): void {
  describe(`Bus contract: ${name}`, () => {
    const state = {} as ContractState;

    beforeEach(async () => {
      state.fixture = await makeFixture();
      state.a = await state.fixture.open();
      state.b = await state.fixture.open();
    });

    afterEach(async () => {
      await state.fixture.cleanup();
    });

    describeCorePubSub(state);
    describeDurableStreams(state);
    describeKeyValue(state);
    describeGarbageIn(state);
  });
}
