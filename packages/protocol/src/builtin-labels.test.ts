import { describe, expect, it } from 'vitest';
import { builtinLabels, labelSafe, shortGpuModel, SIMULATED_OS_ID } from './builtin-labels.js';
import type { GpuInfo } from './gpu.js';

const facts = { hostname: 'gpu node 01.', os: { id: 'ubuntu', name: 'Ubuntu', version: '22.04' }, arch: 'x86_64' };

describe('builtinLabels', () => {
  it('derives host and first-GPU labels the way selectors use them', () => {
    const gpu = { vendor: 'nvidia', name: 'NVIDIA H100 80GB HBM3', memoryTotalBytes: 81559 * 2 ** 20 } as GpuInfo;
    expect(builtinLabels(facts, [gpu, gpu], false)).toEqual({
      hostname: 'gpu-node-01',
      os: 'ubuntu',
      arch: 'x86_64',
      'gpu.count': '2',
      'gpu.vendor': 'nvidia',
      'gpu.model': 'H100',
      'gpu.product': 'NVIDIA-H100-80GB-HBM3',
      'gpu.memory': '80GiB',
    });
  });

  it('has no GPU labels but the count on a host without GPUs, and marks simulated hosts', () => {
    expect(builtinLabels({ ...facts, os: { ...facts.os, id: SIMULATED_OS_ID } }, [], true)).toEqual({
      hostname: 'gpu-node-01',
      os: 'gpufleet-sim',
      arch: 'x86_64',
      'gpu.count': '0',
      simulated: 'true',
    });
    expect(builtinLabels({ ...facts, os: { ...facts.os, id: '' } }, [], false).os).toBe('unknown');
  });

  it('shortens GPU names to the model people select by', () => {
    expect(shortGpuModel('NVIDIA A100-SXM4-40GB')).toBe('A100');
    expect(shortGpuModel('AMD Instinct MI300X')).toBe('MI300X');
    expect(shortGpuModel('NVIDIA RTX 4000 SFF Ada Generation')).toBe('RTX4000');
    expect(shortGpuModel('Ascend 910B4')).toBe('Ascend910B4');
    expect(shortGpuModel(null)).toBe('unknown');
    expect(shortGpuModel('NVIDIA')).toBe('NVIDIA');
    expect(labelSafe('  --a b/c!! ')).toBe('a-b-c');
    expect(labelSafe('x'.repeat(100))).toHaveLength(63);
  });

  it('gives the same answer when asked again, past the names it keeps', () => {
    // More distinct names than the bounded cache keeps: each still shortens right, twice.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 1_500; i++) expect(shortGpuModel(`NVIDIA H${i}-SXM5-80GB`)).toBe(`H${i}`);
      expect(shortGpuModel('NVIDIA A100-SXM4-40GB')).toBe('A100');
    }
  });
});
