import { describe, expect, it } from 'vitest';
import { StubBackend, stubGpu } from '../testing/stub-backend.js';
import { vouchedHostLabels } from './agent-exec.js';

describe('vouchedHostLabels', () => {
  it('computes the built-in labels from the host facts over the join labels', async () => {
    const facts = await new StubBackend(0).hostFacts();
    const labels = vouchedHostLabels(facts, [stubGpu(0), stubGpu(1)], { region: 'eu', hostname: 'claimed' });
    expect(labels).toEqual({
      region: 'eu',
      // A join label cannot override what the host knows of itself.
      hostname: 'stub-host',
      os: 'debian',
      arch: 'x86_64',
      'gpu.count': '2',
      'gpu.vendor': 'nvidia',
      'gpu.model': 'H100',
      'gpu.product': 'NVIDIA-H100-80GB-HBM3',
      'gpu.memory': '80GiB',
    });
  });

  it('marks simulated hosts, skips snapshots that are not valid, and falls back to the join labels without facts', async () => {
    const facts = { ...(await new StubBackend(0).hostFacts()), os: { id: 'gpufleet-sim', name: 'sim', version: '1' } };
    const broken = { ...stubGpu(1), uuid: 42 as unknown as string };
    const labels = vouchedHostLabels(facts, [stubGpu(0), broken], {});
    expect(labels.simulated).toBe('true');
    expect(labels['gpu.count']).toBe('1');
    expect(vouchedHostLabels(null, [stubGpu(0)], { region: 'eu' })).toEqual({ region: 'eu' });
  });
});
