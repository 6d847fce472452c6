import { afterEach, describe, expect, it } from 'vitest';
import { processJob, workloadKit, type WorkloadKit } from './__tests__/workload-kit.js';

let kit: WorkloadKit;
afterEach(async () => kit?.close());

describe('pending slots (what pools grow for)', () => {
  it('lists the slots no node could take with what each needs, and none once they are placed or the job stops', async () => {
    kit = await workloadKit();
    await kit.addNode('small', { gpus: 1 });
    expect(kit.svc.pendingSlots()).toEqual([]);
    await kit.submit(processJob('big', 3, { constraints: ['!spot'] }, { resources: { gpus: 1, gpu_model: ['H100'], gpu_memory_min: '40GiB' } }));
    expect(kit.svc.pendingSlots()).toEqual([
      {
        job: 'big',
        group: 'web',
        count: 2,
        gpusPerSlot: 1,
        gpuModels: ['H100'],
        gpuMemoryMinBytes: 40 * 2 ** 30,
        constraints: ['!spot'],
        since: kit.clock.now(),
      },
    ]);
    await kit.addNode('more', { gpus: 4 });
    await kit.settle();
    expect(kit.svc.pendingSlots()).toEqual([]);
    await kit.submit(processJob('huge', 2, {}, { resources: { gpus: 8 } }));
    expect(kit.svc.pendingSlots().map((s) => [s.job, s.count, s.gpusPerSlot])).toEqual([['huge', 2, 8]]);
    await kit.svc.stopJob('huge', {}, 'token:t');
    await kit.settle();
    expect(kit.svc.pendingSlots()).toEqual([]);
  });
});
