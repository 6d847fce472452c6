import { describe, expect, it } from 'vitest';
import { alertLabels, gpuIdentityLabels } from './alert-labels.js';
import { parseAlertRules } from './alert-rules.js';
import { makeNode, uuidOf } from './__tests__/alert-fixtures.js';

const RULES = parseAlertRules(
  `rules:
  - {name: Hot, kind: metric, metric: gpu_temp_c, above: 85, severity: warning, labels: {team: infra, region: rule-wins}, summary: x}`,
  'test.yaml',
  {},
);
const HOT = RULES.rules[0]!;

describe('alertLabels', () => {
  it('carries the GPU identity /metrics carries, the node id and both hostname spellings', () => {
    const node = makeNode('did:key:z1', { hostname: 'gpu-7' });
    expect(alertLabels(HOT, node, uuidOf('did:key:z1', 1), {})).toEqual({
      alertname: 'Hot',
      severity: 'warning',
      node: 'did:key:z1',
      hostname: 'gpu-7',
      Hostname: 'gpu-7',
      gpu: '1',
      UUID: uuidOf('did:key:z1', 1),
      pci_bus_id: '00000000:18:00.0',
      modelName: 'NVIDIA H100 80GB HBM3',
      team: 'infra',
      region: 'rule-wins',
    });
  });

  it("adds node labels label-safe, never over the engine's or the rule's, and leaves empty ones out", () => {
    const node = makeNode('n', { hostname: 'h' });
    const labels = alertLabels(HOT, node, null, {
      'gpu.model': 'H100',
      'topology/rack': 'r12',
      '9lives': 'x',
      severity: 'low',
      region: 'eu',
      hostname: 'h',
      empty: '',
      'gpu-model': 'second',
    });
    expect(labels).toEqual({
      alertname: 'Hot',
      severity: 'warning',
      node: 'n',
      hostname: 'h',
      Hostname: 'h',
      team: 'infra',
      region: 'rule-wins',
      gpu_model: 'H100',
      topology_rack: 'r12',
      _9lives: 'x',
    });
    for (const name of Object.keys(labels)) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
  });
});

describe('gpuIdentityLabels', () => {
  const node = makeNode('n', { gpus: 2 });

  it('finds the GPU by UUID or by PCI bus id in any spelling', () => {
    const expected = { gpu: '1', UUID: uuidOf('n', 1), pci_bus_id: '00000000:18:00.0', modelName: 'NVIDIA H100 80GB HBM3' };
    expect(gpuIdentityLabels(node, uuidOf('n', 1))).toEqual(expected);
    expect(gpuIdentityLabels(node, '0000:18:00.0')).toEqual(expected);
    expect(gpuIdentityLabels(node, '00000000:18:00.0')).toEqual(expected);
  });

  it('keeps what the key says for a GPU the inventory does not know, and has no index for it', () => {
    expect(gpuIdentityLabels(node, 'GPU-not-in-inventory')).toEqual({ UUID: 'GPU-not-in-inventory' });
    expect(gpuIdentityLabels(node, '0000:b1:00.0')).toEqual({ pci_bus_id: '0000:b1:00.0' });
  });
});
