import { afterEach, describe, expect, it } from 'vitest';
import { healthKit, N1, type HealthKit } from './__tests__/health-kit.js';

let kit: HealthKit;
afterEach(() => kit?.close());

describe('health engine: XIDs on no known GPU', () => {
  it('puts an XID on a PCI address with no GPU on the node, and no phantom GPU appears', async () => {
    kit = await healthKit();
    const gpusBefore = kit.views.view(kit.registry.get(N1)!).gpus.map((g) => g.uuid);
    await kit.event({
      kind: 'xid',
      gpuUuid: null,
      pciBusId: '0000:c1:00.0',
      message: 'Xid 79 on 0000:c1:00.0 (no GPU known at that address)',
      data: { code: 79, line: 'NVRM: Xid (PCI:0000:c1:00): 79, GPU has fallen off the bus.' },
    });
    const findings = kit.engine.findings(N1);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ gpu: null, verdict: 'unhealthy' });
    const view = kit.views.view(kit.registry.get(N1)!);
    expect(view.health.verdict).toBe('unhealthy');
    expect(view.gpus.map((g) => g.uuid)).toEqual(gpusBefore);
    expect(view.gpus.map((g) => [g.health.verdict, g.state]).filter(([v, s]) => v === 'unhealthy' || s !== 'READY')).toEqual([]);
    // Nothing was stored for a GPU key the node does not have.
    expect((await kit.store.listFindings()).map((f) => f.gpuKey)).toEqual([null]);
    expect(kit.registry.states.gpuMarks(N1)).toEqual([]);
    expect(kit.alerts.map((a) => a.gpuKey)).toEqual([null]);
  });

  it('does the same for a redacted line (no address at all), and still keys a known address by its GPU', async () => {
    kit = await healthKit();
    await kit.event({
      kind: 'xid',
      gpuUuid: null,
      pciBusId: null,
      message: 'Xid 79 on an unknown GPU',
      data: { code: 79, line: 'NVRM: Xid (PCI:...): 79, GPU has fallen off the bus.' },
    });
    await kit.event({
      kind: 'xid',
      gpuUuid: null,
      pciBusId: '00000000:18:00.0',
      message: 'Xid 48',
      data: { code: 48, line: 'NVRM: Xid (PCI:0000:18:00): 48, DBE' },
    });
    const keys = kit.engine.findings(N1).map((f) => f.gpu);
    expect(keys).toHaveLength(2);
    expect(keys).toContain(null);
    expect(keys.filter((k) => k !== null)).toEqual([kit.registry.get(N1)!.gpus.find((g) => g.pciBusId === '0000:18:00.0')!.uuid]);
  });
});
