import { describe, expect, it } from 'vitest';
import { ALLOC_STATUSES, JOB_STATUSES } from '@gpufleet/protocol';
import { ApiError } from './api.js';
import { allocationFixture, jobDetailFixture, jobSpecFixture, planFixture } from '../testing/job-fixture.js';
import {
  allocGpusText,
  allocLabel,
  allocLogItemOf,
  gpuAllocationOf,
  isFinalAlloc,
  jobFileRefusal,
  jobPagePath,
  looksLikeJobSpec,
  pickAllocation,
  planSummary,
  resourcesText,
  runningText,
  shortUuid,
  sortAllocations,
  statusTone,
} from './workloads.js';

const GARBAGE: unknown[] = [null, undefined, 0, 1.5, NaN, '', 'x', true, [], [1], {}, { id: {} }, () => 1];

describe('workload texts', () => {
  it('gives every allocation and job status a tone, and unknown words a neutral one', () => {
    expect(ALLOC_STATUSES.map((s) => [s, statusTone(s)])).toEqual([
      ['pending', 'busy'],
      ['starting', 'busy'],
      ['running', 'good'],
      ['restarting', 'busy'],
      ['failed', 'bad'],
      ['complete', 'good'],
      ['refused', 'bad'],
      ['stopping', 'busy'],
      ['stopped', 'idle'],
      ['lost', 'bad'],
    ]);
    expect(JOB_STATUSES.map(statusTone)).toEqual(['busy', 'good', 'busy', 'good', 'idle', 'bad']);
    for (const odd of ['', 'toString', '__proto__', 'RUNNING']) expect(statusTone(odd)).toBe('idle');
  });

  it('knows which allocations are over', () => {
    expect(ALLOC_STATUSES.filter((s) => isFinalAlloc({ status: s }))).toEqual(['failed', 'complete', 'refused', 'stopped', 'lost']);
  });

  it('names allocations, GPUs, UUIDs and counts as people read them', () => {
    expect(allocLabel({ job: 'llama', name: 'web-0' })).toBe('llama/web-0');
    expect(jobPagePath('llama')).toBe('/jobs/llama');
    expect(jobPagePath('a b', 'web-0')).toBe('/jobs/a%20b?alloc=web-0');
    expect(shortUuid('GPU-1a2b3c4d-0000-1111-2222-333344445555')).toBe('GPU-1a2b3c4d…');
    expect(shortUuid('GPU-1')).toBe('GPU-1');
    expect(shortUuid(null)).toBe('no UUID');
    expect(
      allocGpusText([
        { index: 3, uuid: null, name: null },
        { index: 0, uuid: null, name: null },
      ]),
    ).toBe('0, 3');
    expect(allocGpusText([])).toBe('no GPU');
    expect(runningText({ running: 3, desired: 4 })).toBe('3/4');
  });

  it('says what one allocation asks for', () => {
    expect(resourcesText({ gpus: 1 })).toBe('1 GPU');
    expect(resourcesText({ gpus: 2, gpu_model: ['H100', 'A100-80GB'], gpu_memory_min: 40 * 1024 ** 3, cpu: 8, memory: 64 * 1024 ** 3 })).toBe(
      '2 GPUs (H100 or A100-80GB, ≥ 40 GiB), 8 CPUs, 64 GiB',
    );
    expect(resourcesText({ gpus: 0, gpu_vendor: 'amd', cpu: 1 })).toBe('0 GPUs (amd), 1 CPU');
  });

  it('sorts allocations wanted running first, then by group and index, newest first within a name', () => {
    const list = [
      allocationFixture('j', 1, { id: 'old1', desired: 'stop', status: 'lost', createdAt: '2025-05-01T10:00:00Z' }),
      allocationFixture('j', 1, { id: 'new1', createdAt: '2025-05-01T11:00:00Z' }),
      allocationFixture('j', 0, { id: 'web0' }),
      allocationFixture('j', 0, { id: 'api0', group: 'api', name: 'api-0' }),
      allocationFixture('j', 2, { id: 'failed2', status: 'failed' }),
    ];
    expect(sortAllocations(list).map((a) => a.id)).toEqual(['api0', 'web0', 'new1', 'old1', 'failed2']);
  });

  it('picks the allocation a reference names: an id, else the running one of that name, else the newest', () => {
    const old = allocationFixture('j', 1, { id: 'old', status: 'lost', desired: 'stop', createdAt: '2025-05-01T10:00:00Z' });
    const now = allocationFixture('j', 1, { id: 'now', createdAt: '2025-05-01T09:00:00Z' });
    expect(pickAllocation([old, now], 'web-1')?.id).toBe('now');
    expect(pickAllocation([old, now], 'old')?.id).toBe('old');
    const gone = allocationFixture('j', 1, { id: 'gone', status: 'stopped', desired: 'stop', createdAt: '2025-05-01T11:00:00Z' });
    expect(pickAllocation([old, gone], 'web-1')?.id).toBe('gone');
    expect(pickAllocation([old, now], 'web-7')).toBeNull();
    expect(pickAllocation([], '')).toBeNull();
  });

  it('sums a plan up in one sentence', () => {
    expect(planSummary(planFixture('j', 2, 1))).toBe('2 to place on 1 node, 1 cannot be placed (6 nodes evaluated).');
    expect(planSummary({ ...planFixture('j', 0), unchanged: 3, stops: ['web-3'], nodesEvaluated: 1 })).toBe('3 unchanged, 1 to stop (1 node evaluated).');
    expect(planSummary({ ...planFixture('j', 0), nodesEvaluated: 0 })).toBe('nothing to do (0 nodes evaluated).');
  });
});

describe('job file refusals', () => {
  it("lists the problems the server's details carry, with line, column and field", () => {
    const err = new ApiError(400, 'invalid_argument', 'line 4:5: allocations.web.count: too many (and 1 more problem)', {
      file: null,
      problems: [
        { line: 4, col: 5, path: 'allocations.web.count', message: 'too many' },
        { line: 9, col: 1, path: '', message: 'unknown field spred (did you mean spread?)' },
        { line: 'x', col: null, path: 7, message: 'kept without a place' },
        { garbage: true },
      ],
    });
    expect(jobFileRefusal(err)).toEqual({
      message: 'line 4:5: allocations.web.count: too many (and 1 more problem)',
      problems: [
        { line: 4, col: 5, field: 'allocations.web.count', message: 'too many' },
        { line: 9, col: 1, field: null, message: 'unknown field spred (did you mean spread?)' },
        { line: null, col: null, field: null, message: 'kept without a place' },
      ],
    });
  });

  it('without a list, the message is the one problem and its line is read from it', () => {
    expect(jobFileRefusal(new ApiError(400, 'invalid_argument', 'line 12:3: name: a job needs a name'))).toEqual({
      message: 'line 12:3: name: a job needs a name',
      problems: [{ line: 12, col: 3, field: null, message: 'line 12:3: name: a job needs a name' }],
    });
    expect(jobFileRefusal(new Error('the server does not answer')).problems).toEqual([
      { line: null, col: null, field: null, message: 'the server does not answer' },
    ]);
    for (const details of GARBAGE) {
      const r = jobFileRefusal(new ApiError(400, 'invalid_argument', 'bad', details));
      expect(r.problems).toEqual([{ line: null, col: null, field: null, message: 'bad' }]);
    }
  });
});

describe('untrusted shapes from the server', () => {
  it('reads a log item, and drops garbage', () => {
    expect(allocLogItemOf({ id: 7, stream: 'stderr', chunk: 2, data: 'x', at: '2025-05-01T12:00:00Z' })).toEqual({
      id: 7,
      stream: 'stderr',
      chunk: 2,
      data: 'x',
      at: '2025-05-01T12:00:00Z',
    });
    expect(allocLogItemOf({ id: '7', stream: 'stdout', data: '' })).toEqual({ id: '7', stream: 'stdout', chunk: 0, data: '', at: '' });
    for (const g of [...GARBAGE, { id: 1, stream: 'stdin', data: 'x' }, { id: 1, stream: 'stdout', data: 3 }, { id: null, stream: 'stdout', data: 'x' }]) {
      expect(allocLogItemOf(g)).toBeNull();
    }
  });

  it("reads a GPU row's allocation, and takes garbage (or an older server's row) for a free GPU", () => {
    expect(gpuAllocationOf({ allocation: { id: 'a1', job: 'llama', name: 'web-0' } })).toEqual({ id: 'a1', job: 'llama', name: 'web-0' });
    expect(gpuAllocationOf({ allocation: null })).toBeNull();
    expect(gpuAllocationOf({})).toBeNull();
    for (const g of GARBAGE) {
      expect(gpuAllocationOf(g)).toBeNull();
      expect(gpuAllocationOf({ allocation: g })).toBeNull();
    }
    expect(gpuAllocationOf({ allocation: { id: 'a1', job: 'llama' } })).toBeNull();
  });

  it('takes a spec for a spec only when it has the outline the summary reads', () => {
    expect(looksLikeJobSpec(jobSpecFixture())).toBe(true);
    expect(looksLikeJobSpec(jobDetailFixture().spec)).toBe(true);
    for (const g of GARBAGE) expect(looksLikeJobSpec(g)).toBe(false);
    const spec = jobSpecFixture() as unknown as Record<string, unknown>;
    const broken = [
      { ...spec, name: 1 },
      { ...spec, constraints: 'x' },
      { ...spec, pin: null },
      { ...spec, update: {} },
      { ...spec, allocations: [] },
      { ...spec, allocations: { web: null } },
      { ...spec, allocations: { web: { count: 1, executor: 'container', env: {}, resources: {}, restart: { attempts: 1 } } } },
      { ...spec, allocations: { web: { count: 1, executor: 'container', env: {}, resources: { gpus: 1 }, restart: { attempts: 1 }, command: 'sh' } } },
    ];
    for (const b of broken) expect(looksLikeJobSpec(b)).toBe(false);
  });
});
