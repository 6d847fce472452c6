import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEventRecord } from '../store/store.js';
import { processJob, workloadKit, type WorkloadKit } from './__tests__/workload-kit.js';

let kit: WorkloadKit;
afterEach(async () => kit?.close());

function event(nodeId: string, kind: 'alloc-state' | 'alloc-output', data: unknown): AgentEventRecord {
  return {
    nodeId,
    seq: 1,
    id: 'ev-garbage',
    ts: kit.clock.now(),
    kind,
    gpuUuid: null,
    pciBusId: null,
    message: '',
    data: data as Record<string, unknown>,
    receivedAt: kit.clock.now(),
  };
}

describe('host reports with garbage data', () => {
  it('are ignored without touching the allocation or failing the outbox item', async () => {
    kit = await workloadKit();
    const n = await kit.addNode('gpu-a');
    await kit.submit(processJob('garbage', 1));
    const [a] = await kit.live('garbage');
    const good = { allocId: a!.id, specHash: null, state: 'running', healthy: true, restarts: 0, exitCode: null, reason: null, message: '' };
    const states: unknown[] = [
      null,
      'running',
      [],
      {},
      { ...good, state: 'exploded' },
      { ...good, restarts: -1 },
      { ...good, restarts: 1.5 },
      { ...good, healthy: 'yes' },
      { ...good, reason: 'because' },
      { ...good, message: 'm'.repeat(4097) },
      { ...good, allocId: 'x'.repeat(65) },
      { ...good, allocId: 42 },
      { ...good, specHash: 'z'.repeat(65) },
      { ...good, allocId: '../../etc/passwd' },
      { ...good, allocId: "x' OR 1=1 --" },
    ];
    for (const data of states) await kit.svc.onHostReport(event(n, 'alloc-state', data));
    const outputs: unknown[] = [
      null,
      {},
      { allocId: a!.id, stream: 'stdin', chunk: 0, data: 'x' },
      { allocId: a!.id, stream: 'stdout', chunk: -1, data: 'x' },
      { allocId: a!.id, stream: 'stdout', chunk: 0, data: 'x'.repeat(65_537) },
      { allocId: a!.id, stream: 'stdout', chunk: 0, data: 7 },
      { allocId: '../x', stream: 'stdout', chunk: 0, data: 'x' },
      { allocId: "x' OR 1=1 --", stream: 'stdout', chunk: 0, data: 'x' },
    ];
    for (const data of outputs) await kit.svc.onHostOutput(event(n, 'alloc-output', data));
    expect(await kit.svc.allocation(a!.id)).toMatchObject({ status: 'pending', desired: 'run', restarts: 0, message: '' });
    expect((await kit.reads.output(a!.id, {})).items).toEqual([]);
    // And the good one still works.
    await kit.svc.onHostReport(event(n, 'alloc-state', good));
    expect(await kit.svc.allocation(a!.id)).toMatchObject({ status: 'running' });
  });
});

describe('a host report under another spec hash', () => {
  it('does not end the allocation the host still runs (a conflicting start it refused)', async () => {
    kit = await workloadKit();
    const n = await kit.addNode('gpu-a');
    await kit.submit(processJob('hashes', 1));
    const [a] = await kit.live('hashes');
    const base = { allocId: a!.id, healthy: true, restarts: 0, exitCode: null, reason: null, message: '' };
    await kit.svc.onHostReport(event(n, 'alloc-state', { ...base, specHash: null, state: 'running' }));
    const other = 'f'.repeat(64);
    await kit.svc.onHostReport(event(n, 'alloc-state', { ...base, specHash: other, state: 'refused', reason: 'placement_invalid', healthy: null }));
    expect(await kit.svc.allocation(a!.id)).toMatchObject({ status: 'running', desired: 'run' });
  });
});
