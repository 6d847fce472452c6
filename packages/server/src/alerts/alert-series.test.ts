import { describe, expect, it } from 'vitest';
import { checkExposition } from '../metrics/__tests__/exposition-checker.js';
import { renderAlertSeries } from './alert-series.js';
import { engineFor, FakeFleet, gpuSample, makeNode, metricsOf, TestClock, uuidOf } from './__tests__/alert-fixtures.js';

const RULES = `
rules:
  - {name: Hot, kind: metric, metric: gpu_temp_c, above: 85, for: 1m, severity: warning, labels: {team: infra}, summary: x}
  - {name: Off, kind: node-offline, for: 5m, severity: critical, summary: x}
`;

const H100 = 'NVIDIA H100 80GB HBM3';

describe('renderAlertSeries', () => {
  it('writes counts per rule and state, ALERTS per active alert, silences and notification counters', async () => {
    const clock = new TestClock();
    const fleet = new FakeFleet();
    fleet.add(makeNode('n1', { hostname: 'box "1"' }));
    fleet.add(makeNode('n2'));
    const engine = engineFor(RULES, fleet, clock);
    fleet.metrics.set('n1', metricsOf(clock.now(), [gpuSample('n1', 0, { temperatureC: 90 }), gpuSample('n1', 1, { temperatureC: 95 })]));
    fleet.metrics.set('n2', metricsOf(clock.now(), [gpuSample('n2', 0, { temperatureC: 91 })]));
    engine.tick();
    clock.advance(60_000);
    fleet.metrics.set('n2', metricsOf(clock.now(), [gpuSample('n2', 0, { temperatureC: 60 })]));
    engine.tick(); // n1's two GPUs fire; n2's pending alert is forgotten
    fleet.metrics.set('n2', metricsOf(clock.now(), [gpuSample('n2', 0, { temperatureC: 99 })]));
    engine.tick(); // n2 pending again
    await engine.silences.create(
      { matchers: [{ name: 'UUID', value: uuidOf('n1', 1) }], endsAt: clock.now() + 60_000, comment: 'x', createdBy: 't' },
      clock.now(),
    );

    const families = checkExposition(renderAlertSeries(engine));
    const samples = (name: string) => families.get(name)!.samples.map((s) => [Object.fromEntries(s.labels), s.value]);
    expect(families.get('gpufleet_alerts')!.type).toBe('gauge');
    expect(samples('gpufleet_alerts')).toEqual([
      [{ rule: 'Hot', severity: 'warning', state: 'pending' }, 1],
      [{ rule: 'Hot', severity: 'warning', state: 'firing' }, 2],
      [{ rule: 'Hot', severity: 'warning', state: 'resolved' }, 0],
      [{ rule: 'Off', severity: 'critical', state: 'pending' }, 0],
      [{ rule: 'Off', severity: 'critical', state: 'firing' }, 0],
      [{ rule: 'Off', severity: 'critical', state: 'resolved' }, 0],
    ]);
    expect(samples('gpufleet_alerts_silenced')).toEqual([
      [{ rule: 'Hot', severity: 'warning' }, 1],
      [{ rule: 'Off', severity: 'critical' }, 0],
    ]);
    const alerts = samples('ALERTS').sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    expect(alerts).toEqual([
      [
        {
          alertname: 'Hot',
          alertstate: 'firing',
          severity: 'warning',
          node: 'n1',
          hostname: 'box "1"',
          Hostname: 'box "1"',
          gpu: '0',
          UUID: uuidOf('n1', 0),
          pci_bus_id: '00000000:17:00.0',
          modelName: H100,
          team: 'infra',
        },
        1,
      ],
      [
        {
          alertname: 'Hot',
          alertstate: 'firing',
          severity: 'warning',
          node: 'n1',
          hostname: 'box "1"',
          Hostname: 'box "1"',
          gpu: '1',
          UUID: uuidOf('n1', 1),
          pci_bus_id: '00000000:18:00.0',
          modelName: H100,
          team: 'infra',
        },
        1,
      ],
      [
        {
          alertname: 'Hot',
          alertstate: 'pending',
          severity: 'warning',
          node: 'n2',
          hostname: 'n2',
          Hostname: 'n2',
          gpu: '0',
          UUID: uuidOf('n2', 0),
          pci_bus_id: '00000000:17:00.0',
          modelName: H100,
          team: 'infra',
        },
        1,
      ],
    ]);
    expect(samples('gpufleet_alert_silences')).toEqual([[{ state: 'active' }, 1]]);
    expect(families.get('gpufleet_alert_notifications_total')!.samples).toEqual([]);
  });

  it('counts notifications per receiver and result', () => {
    const engine = engineFor(`receivers:\n  - {name: hook, type: webhook, url: "http://127.0.0.1:9"}\nrules: []`, new FakeFleet(), new TestClock());
    const families = checkExposition(renderAlertSeries(engine));
    expect(families.get('gpufleet_alert_notifications_total')!.samples.map((s) => [Object.fromEntries(s.labels).result, s.value])).toEqual([
      ['sent', 0],
      ['failed', 0],
      ['retried', 0],
      ['dropped', 0],
    ]);
    expect(families.get('ALERTS')!.samples).toEqual([]);
  });
});
