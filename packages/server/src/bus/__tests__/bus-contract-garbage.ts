import { beforeEach, describe, expect, it } from 'vitest';
import { type Bus, type BusMessage, DEFAULT_MAX_PAYLOAD_BYTES } from '../bus.js';
import { type ContractState, eventually, expectFleetError } from './bus-contract-kit.js';

/** The Bus contract, garbage in: subjects, payloads, use after close. */
export function describeGarbageIn(state: ContractState): void {
  describe('garbage in', () => {
    let a: Bus;
    let b: Bus;
    beforeEach(() => {
      ({ a, b } = state);
    });

    it('refuses bad subjects and patterns', async () => {
      for (const subject of ['', 'a..b', '.a', 'a.', 'a b', 'a\tb', 'a.*', 'a.>', '*', 'ü.x', 'x'.repeat(257), 42, null]) {
        await expectFleetError(() => a.publish(subject as string, {}), 'invalid_argument');
        await expectFleetError(() => a.durablePublish(subject as string, {}, 'id'), 'invalid_argument');
      }
      for (const pattern of ['', 'a..b', 'a.>.b', '>.a', 'a*', 'a.b>', 'a b', undefined]) {
        await expectFleetError(() => a.subscribe(pattern as string, () => undefined), 'invalid_argument');
      }
    });

    it('refuses data that is not bytes or JSON, naming why', async () => {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const bad: unknown[] = [
        'text',
        42,
        null,
        undefined,
        circular,
        { n: 10n },
        { f: () => 1 },
        { m: new Map() },
        { x: Number.NaN },
        new ArrayBuffer(4),
        new Float32Array(2),
      ];
      for (const data of bad) {
        const err = await expectFleetError(() => a.publish('x.y', data as object), 'invalid_argument');
        expect(err.message).toMatch(/bus data/);
        await expectFleetError(() => a.durablePublish('x.y', data as object, 'id'), 'invalid_argument');
      }
    });

    it(`refuses payloads over ${DEFAULT_MAX_PAYLOAD_BYTES} bytes and carries one of exactly that size`, async () => {
      const got: BusMessage[] = [];
      await a.subscribe('big', (m) => got.push(m));
      const tooBig = await expectFleetError(() => b.publish('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES + 1)), 'payload_too_large');
      expect(tooBig.details).toEqual({ bytes: DEFAULT_MAX_PAYLOAD_BYTES + 1, limit: DEFAULT_MAX_PAYLOAD_BYTES });
      await expectFleetError(() => b.publish('big', { s: 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES) }), 'payload_too_large');
      await expectFleetError(() => b.durablePublish('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES + 1), 'big-1'), 'payload_too_large');
      b.publish('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES).fill(7));
      await eventually(() => got.length === 1);
      expect(got[0]!.data.length).toBe(DEFAULT_MAX_PAYLOAD_BYTES);
      expect(got[0]!.data[DEFAULT_MAX_PAYLOAD_BYTES - 1]).toBe(7);
      const stored = await b.durablePublish('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES), 'big-2');
      expect(stored.duplicate).toBe(false);
    });

    it('json() of bytes that are not JSON is an invalid_argument', async () => {
      const got: BusMessage[] = [];
      await a.subscribe('raw', (m) => got.push(m));
      b.publish('raw', new Uint8Array([0xff, 0x00]));
      await eventually(() => got.length === 1);
      await expectFleetError(() => got[0]!.json(), 'invalid_argument');
    });

    it('after close every call is refused as unavailable, and closing again is harmless', async () => {
      const kv = await a.kv('after-close');
      await a.close();
      await a.close();
      await expectFleetError(() => a.publish('x', {}), 'unavailable');
      await expectFleetError(() => a.subscribe('x', () => undefined), 'unavailable');
      await expectFleetError(() => a.durablePublish('x', {}, 'id'), 'unavailable');
      await expectFleetError(() => a.durableConsume('c', 'x', async () => undefined), 'unavailable');
      await expectFleetError(() => a.kv('after-close'), 'unavailable');
      await expectFleetError(() => kv.get('k'), 'unavailable');
      await expectFleetError(() => kv.create('k', {}), 'unavailable');
    });
  });
}
