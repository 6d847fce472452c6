import { describe, expect, it } from 'vitest';
import type { NodeView } from '@gpufleet/protocol';
import { allocationFixture, NODE_A, NODE_B } from '../testing/job-fixture.js';
import { buildHeatmap, heatNodeFromView, summarizeHeatmap } from './heatmap.js';
import { allocLine, allocMarkOf, allocMarksFrom, NO_ALLOCS, sameAllocMarks, withAllocations } from './heatmap-allocs.js';

/** A node of `n` healthy H100s at 10%. */
function node(id: string, hostname: string, n: number): NodeView {
  const gpus = Array.from({ length: n }, (_, index) => ({
    index,
    name: 'NVIDIA H100',
    state: 'READY',
    health: { verdict: 'healthy' },
    sample: { utilizationPct: 10 },
  }));
  return { id, hostname, status: 'READY', connected: true, gpus } as unknown as NodeView;
}

describe('allocation marks of the heatmap', () => {
  it('marks each GPU held by an allocation that is not over, by node and index', () => {
    const marks = allocMarksFrom([
      allocationFixture('llama', 0),
      allocationFixture('llama', 1, {
        gpus: [
          { index: 2, uuid: null, name: null },
          { index: 3, uuid: null, name: null },
        ],
      }),
      allocationFixture('whisper', 0, { nodeId: NODE_B, status: 'starting' }),
      allocationFixture('old', 5, { status: 'stopped', desired: 'stop' }),
      allocationFixture('old', 6, { status: 'lost', desired: 'stop' }),
    ]);
    expect(allocMarkOf(marks, { nodeId: NODE_A, index: 0 })).toEqual({ id: 'alloc_llama_0_aaaaaaaa', label: 'llama/web-0', status: 'running' });
    expect(allocMarkOf(marks, { nodeId: NODE_A, index: 3 })?.label).toBe('llama/web-1');
    expect(allocMarkOf(marks, { nodeId: NODE_A, index: 1 })).toBeNull();
    expect(allocMarkOf(marks, { nodeId: NODE_A, index: 5 })).toBeNull();
    expect(allocMarkOf(marks, { nodeId: NODE_A, index: 6 })).toBeNull();
    expect(allocMarkOf(marks, { nodeId: NODE_B, index: 0 })?.status).toBe('starting');
    expect(allocMarkOf(undefined, { nodeId: NODE_A, index: 0 })).toBeNull();
    expect(allocLine(allocMarkOf(marks, { nodeId: NODE_B, index: 0 })!)).toBe('allocation whisper/web-0 (starting)');
  });

  it('a GPU claimed twice (the old allocation still stopping) shows the one wanted running', () => {
    const stopping = allocationFixture('llama', 0, { id: 'old', desired: 'stop', status: 'stopping' });
    const replacement = allocationFixture('llama', 0, { id: 'new', status: 'pending' });
    expect(allocMarkOf(allocMarksFrom([replacement, stopping]), { nodeId: NODE_A, index: 0 })?.id).toBe('new');
    expect(allocMarkOf(allocMarksFrom([stopping, replacement]), { nodeId: NODE_A, index: 0 })?.id).toBe('new');
  });

  it('counts the allocated GPUs of the fleet in the summary', () => {
    const model = buildHeatmap([node(NODE_A, 'gpu-a', 4), node(NODE_B, 'gpu-b', 2)].map((v) => heatNodeFromView(v)!));
    expect(summarizeHeatmap(model).allocated).toBe(0);
    const marks = allocMarksFrom([
      allocationFixture('llama', 0),
      allocationFixture('llama', 1),
      allocationFixture('x', 7, { nodeId: 'did:key:zNotInTheFleet' }),
      allocationFixture('y', 5),
    ]);
    const marked = withAllocations(model, marks);
    expect(marked).not.toBe(model);
    expect(marked.cells).toBe(model.cells);
    // GPU 5 of gpu-a and the node outside the fleet are not cells of the heatmap.
    expect(summarizeHeatmap(marked).allocated).toBe(2);
    expect(withAllocations(marked, marks)).toBe(marked);
  });

  it('tells unchanged marks from changed ones, so an unchanged poll keeps the same model', () => {
    const list = [allocationFixture('llama', 0), allocationFixture('llama', 1)];
    expect(sameAllocMarks(allocMarksFrom(list), allocMarksFrom(list))).toBe(true);
    expect(sameAllocMarks(NO_ALLOCS, allocMarksFrom([]))).toBe(true);
    expect(sameAllocMarks(allocMarksFrom(list), allocMarksFrom(list.slice(1)))).toBe(false);
    expect(sameAllocMarks(allocMarksFrom(list), allocMarksFrom([list[0]!, { ...list[1]!, status: 'restarting' }]))).toBe(false);
    expect(sameAllocMarks(allocMarksFrom(list), allocMarksFrom([list[0]!, { ...list[1]!, id: 'other' }]))).toBe(false);
    expect(sameAllocMarks(allocMarksFrom(list), allocMarksFrom([list[0]!, { ...list[1]!, nodeId: NODE_B }]))).toBe(false);
  });
});
