import { FleetError } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { allocation } from './__tests__/claim-fixtures.js';
import { ClaimTable, holdsResources } from './claim-table.js';

describe('ClaimTable', () => {
  it('loads GPU claims as stored and CPU, memory and job counts from live allocations only', () => {
    const table = new ClaimTable();
    table.load(
      [
        { nodeId: 'n', gpuIndex: 0, gpuUuid: null, allocId: 'a' },
        { nodeId: 'n', gpuIndex: 1, gpuUuid: null, allocId: 'a' },
        { nodeId: 'm', gpuIndex: 3, gpuUuid: null, allocId: 'orphan' },
      ],
      [
        allocation('a', 'n', [0, 1], { cpu: 4, memory: 1000 }),
        allocation('b', 'n', [], { cpu: 2.5, status: 'stopping', job: 'other' }),
        allocation('gone', 'n', [5], { cpu: 99, status: 'stopped' }),
      ],
    );
    expect([table.gpuHolder('n', 0), table.gpuHolder('n', 1), table.gpuHolder('n', 5), table.gpuHolder('m', 3)]).toEqual(['a', 'a', null, 'orphan']);
    expect([table.cpuReserved('n'), table.memoryReserved('n')]).toEqual([6.5, 1000]);
    expect([table.jobAllocsOnNode('llama', 'n'), table.jobAllocsOnNode('other', 'n'), table.jobAllocsOnNode('llama', 'm')]).toEqual([1, 1, 0]);
    expect(table.size).toBe(3);
    expect(table.release('orphan')).toBe(true);
    expect(table.gpuHolder('m', 3)).toBeNull();
  });

  it('refuses a claim of a GPU another allocation holds, taking nothing', () => {
    const table = new ClaimTable();
    table.claim(allocation('a', 'n', [0, 1]));
    let caught: unknown;
    try {
      table.claim(allocation('b', 'n', [2, 1], { cpu: 3 }));
    } catch (err) {
      caught = err;
    }
    expect(FleetError.is(caught, 'conflict')).toBe(true);
    expect((caught as FleetError).details).toEqual([{ nodeId: 'n', gpuIndex: 1, heldBy: 'a' }]);
    expect([table.gpuHolder('n', 2), table.cpuReserved('n'), table.held('b')]).toEqual([null, 0, undefined]);
  });

  it('takes a GPU over when told the database already holds it so, and the old holder lets go of it', () => {
    const table = new ClaimTable();
    table.claim(allocation('a', 'n', [0, 1]));
    table.claim(allocation('b', 'n', [1]), { takeOver: true });
    expect(table.gpuHolder('n', 1)).toBe('b');
    table.release('a');
    expect([table.gpuHolder('n', 0), table.gpuHolder('n', 1)]).toEqual([null, 'b']);
  });

  it('re-claiming an allocation replaces what it held; release frees all of it once', () => {
    const table = new ClaimTable();
    table.claim(allocation('a', 'n', [0], { cpu: 2, memory: 10 }));
    table.claim(allocation('a', 'n', [3], { cpu: 1, memory: 5 }));
    expect([table.gpuHolder('n', 0), table.gpuHolder('n', 3), table.cpuReserved('n'), table.memoryReserved('n'), table.jobAllocsOnNode('llama', 'n')]).toEqual([
      null,
      'a',
      1,
      5,
      1,
    ]);
    expect(table.release('a')).toBe(true);
    expect(table.release('a')).toBe(false);
    expect([table.gpuHolder('n', 3), table.cpuReserved('n'), table.memoryReserved('n'), table.jobAllocsOnNode('llama', 'n')]).toEqual([null, 0, 0, 0]);
    expect(table.jobNodes('llama').size).toBe(0);
  });

  it('sums fractional cores back to exactly zero', () => {
    const table = new ClaimTable();
    for (let i = 0; i < 10; i++) table.claim(allocation(`a${i}`, 'n', [], { cpu: 0.1 }));
    for (let i = 0; i < 10; i++) table.release(`a${i}`);
    expect(table.cpuReserved('n')).toBe(0);
  });

  it('notes a GPU a conflict reported, and tells listeners of every node that changed', () => {
    const table = new ClaimTable();
    const seen: string[] = [];
    const stop = table.onNodeChange((id) => seen.push(id));
    table.holdGpu('n', 4, 'elsewhere');
    table.holdGpu('n', 4, 'elsewhere');
    table.claim(allocation('a', 'm', [0]));
    table.release('elsewhere');
    table.load([], []);
    stop();
    table.claim(allocation('b', 'k', [0]));
    expect(seen).toEqual(['n', 'm', 'n', 'm']);
    expect(table.gpuHolder('n', 4)).toBeNull();
  });

  it('counts a job per node and lists its nodes', () => {
    const table = new ClaimTable();
    table.claim(allocation('a', 'n', [0]));
    table.claim(allocation('b', 'n', [1]));
    table.claim(allocation('c', 'm', [0]));
    table.claim(allocation('d', 'm', [1], { job: 'other' }));
    expect(Object.fromEntries(table.jobNodes('llama'))).toEqual({ n: 2, m: 1 });
    expect(table.conflictsOf('m', [{ index: 1, uuid: null }], 'd')).toEqual([]);
    expect(table.conflictsOf('m', [{ index: 1, uuid: null }])).toEqual([{ nodeId: 'm', gpuIndex: 1, heldBy: 'd' }]);
  });

  it('knows which statuses hold resources', () => {
    const live = ['pending', 'starting', 'running', 'restarting', 'stopping'] as const;
    const ended = ['failed', 'complete', 'refused', 'stopped', 'lost'] as const;
    expect(live.map((status) => holdsResources({ status }))).toEqual(live.map(() => true));
    expect(ended.map((status) => holdsResources({ status }))).toEqual(ended.map(() => false));
  });
});
