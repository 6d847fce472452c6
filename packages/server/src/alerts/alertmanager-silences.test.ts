import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlertEngine } from './alert-engine.js';
import { createSilence, expireSilence } from './alert-api.js';
import { postableSilence } from './alertmanager-silences.js';
import { SILENCES_SETTING } from './silences.js';
import { FakeAlertmanager } from './__tests__/fake-alertmanager.js';
import {
  engineFor,
  FakeFleet,
  gpuSample,
  makeNode,
  MemorySettings,
  metricsOf,
  startReceiver,
  T0,
  TestClock,
  uuidOf,
  type Receiver,
} from './__tests__/alert-fixtures.js';

/**
 * gpufleet silences against a fake Alertmanager that keeps Alertmanager's state: a silence
 * must never read there as "resolved" while the fault is still there.
 */

const MIN = 60_000;
let clock: TestClock;
let fleet: FakeFleet;
let am: FakeAlertmanager;
let hook: Receiver;
const engines: AlertEngine[] = [];

beforeEach(async () => {
  clock = new TestClock();
  fleet = new FakeFleet();
  fleet.add(makeNode('n1', { hostname: 'box', labels: { region: 'eu' } }));
  am = await new FakeAlertmanager().start();
  hook = await startReceiver();
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop(100);
  await Promise.all([am.close(), hook.close()]);
});

function engine(settings = new MemorySettings()): AlertEngine {
  const yaml = `
receivers:
  - {name: am, type: alertmanager, url: "${am.url}", resendInterval: 1m, retry: {attempts: 3, initialBackoff: 1s, maxBackoff: 2s}}
  - {name: hook, type: webhook, url: "${hook.url}"}
defaultReceivers: [am, hook]
rules:
  - {name: Hot, kind: metric, metric: gpu_temp_c, above: 85, severity: warning, summary: "GPU {{gpu}} hot"}
`;
  const e = engineFor(yaml, fleet, clock, { settings, notifier: { random: () => 0.5 } });
  engines.push(e);
  return e;
}

function temp(value: number): void {
  fleet.metrics.set('n1', metricsOf(clock.now(), [gpuSample('n1', 0, { temperatureC: value })]));
}

async function settle(e: AlertEngine): Promise<void> {
  await e.silenceSync.idle();
  await e.notifier.idle();
}

/** A minute at a time: a hot sample, an evaluation, and whatever it sends. */
async function minutes(e: AlertEngine, n: number, t = 90): Promise<void> {
  for (let i = 0; i < n; i++) {
    clock.advance(MIN);
    temp(t);
    e.tick();
    await settle(e);
    e.tick(); // what waited for a silence copy goes out now
    await settle(e);
  }
}

const resolveNode = (ref: string) => ref;

describe('gpufleet silences in Alertmanager', () => {
  it('keep a silenced alert firing there (never a false resolved) and mute it with a copy of the silence', async () => {
    const e = engine();
    temp(90);
    e.tick();
    await settle(e);
    const labels = e.instances().next().value!.labels;
    expect(am.isActive(labels, clock.now())).toBe(true);
    expect(hook.posts).toHaveLength(1);

    await createSilence(
      e,
      {
        matchers: [
          { name: 'alertname', value: 'Hot' },
          { name: 'region', value: 'eu' },
        ],
        duration: '2h',
        comment: 'fan swap',
      },
      'token:ops',
      resolveNode,
    );
    await settle(e);
    expect(am.silences).toHaveLength(1);
    expect(am.silences[0]).toMatchObject({
      matchers: [
        { name: 'alertname', value: 'Hot', isRegex: false, isEqual: true },
        { name: 'region', value: 'eu', isRegex: false, isEqual: true },
      ],
      createdBy: 'token:ops',
      startsAt: new Date(clock.now()).toISOString(),
      endsAt: new Date(clock.now() + 2 * 3_600_000).toISOString(),
    });
    expect(am.silences[0]!.comment).toMatch(/^fan swap \(gpufleet sil_[0-9a-f]{16}\)$/);

    // Well past the 4 resend intervals after which Alertmanager would resolve a silent alert.
    for (let i = 0; i < 10; i++) {
      await minutes(e, 1);
      expect(am.isActive(labels, clock.now()), `minute ${i + 1}`).toBe(true);
    }
    expect(am.isSilenced(labels)).toBe(true);
    expect(am.posts('/api/v2/silences')).toHaveLength(1); // copied once, not on every pass
    expect(hook.posts).toHaveLength(1); // the webhook stays quiet under the silence

    // The fault ends: Alertmanager hears "resolved" with the real end, once.
    clock.advance(MIN);
    temp(60);
    e.tick();
    await settle(e);
    expect(am.isActive(labels, clock.now())).toBe(false);
    expect(am.alerts.get(JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))))!.endsAt).toBe(new Date(clock.now()).toISOString());
  });

  it('send an alert that starts under a silence only once Alertmanager holds the silence', async () => {
    const e = engine();
    am.failSilences(2);
    await createSilence(e, { matchers: [{ name: 'alertname', value: 'Hot' }], duration: '1h', comment: 'known' }, 'token:ops', resolveNode);
    await settle(e);
    temp(90);
    e.tick();
    await settle(e);
    expect(am.posts('/api/v2/alerts')).toEqual([]); // no copy yet: sending it would page
    await minutes(e, 1); // the retry after the backoff fails again
    expect(am.posts('/api/v2/alerts')).toEqual([]);
    await minutes(e, 1);
    expect(am.silences).toHaveLength(1);
    expect(am.posts('/api/v2/alerts')).toHaveLength(1);
    const labels = e.instances().next().value!.labels;
    expect([am.isActive(labels, clock.now()), am.isSilenced(labels)]).toEqual([true, true]);
    expect(hook.posts).toEqual([]);
    expect(e.silenceSync.mirrored('am', e.silences.matching(labels, clock.now()))).toBe(true);
  });

  it('expire the copy when the silence is expired early, and keep copies across a restart', async () => {
    const settings = new MemorySettings();
    const e = engine(settings);
    const view = await createSilence(e, { matchers: [{ name: 'gpu', value: uuidOf('n1', 0) }], duration: '1h', comment: 'x' }, 'token:ops', resolveNode);
    await settle(e);
    // A `gpu` matcher given a UUID means the UUID label (gpu is the index, as in dcgm-exporter).
    expect(view.matchers).toEqual([{ name: 'UUID', value: uuidOf('n1', 0), op: '=' }]);
    expect(am.silences[0]!.matchers).toEqual([{ name: 'UUID', value: uuidOf('n1', 0), isRegex: false, isEqual: true }]);
    expect(JSON.parse(settings.values.get(SILENCES_SETTING)!)[0].mirrors).toEqual({ am: { id: 'am-1', endsAt: T0 + 3_600_000 } });

    const again = engine(settings);
    await again.load();
    again.tick();
    await settle(again);
    expect(am.posts('/api/v2/silences')).toHaveLength(1);

    clock.advance(MIN);
    await expireSilence(again, view.id);
    await settle(again);
    expect(am.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual(['/api/v2/silence/am-1']);
    expect(am.silences[0]!.expired).toBe(true);
    again.tick();
    await settle(again);
    expect(am.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1); // done once
  });

  it('a silence that runs out by itself needs no request', async () => {
    const e = engine();
    await createSilence(e, { matchers: [{ name: 'alertname', value: 'Hot' }], duration: '5m', comment: 'short' }, 't', resolveNode);
    await settle(e);
    clock.advance(6 * MIN);
    e.tick();
    await settle(e);
    expect(am.requests.map((r) => r.method)).toEqual(['POST']);
  });
});

describe('postableSilence', () => {
  it('adds alertname=~".+" when every matcher is negative, which Alertmanager requires', () => {
    const s = {
      id: 'sil_1',
      matchers: [{ name: 'severity', value: 'critical', op: '!=' as const }],
      startsAt: T0,
      endsAt: T0 + MIN,
      createdBy: '',
      comment: '',
    };
    expect(postableSilence(s)).toEqual({
      matchers: [
        { name: 'severity', value: 'critical', isRegex: false, isEqual: false },
        { name: 'alertname', value: '.+', isRegex: true, isEqual: true },
      ],
      startsAt: new Date(T0).toISOString(),
      endsAt: new Date(T0 + MIN).toISOString(),
      createdBy: 'gpufleet',
      comment: 'gpufleet silence (gpufleet sil_1)',
    });
  });

  it('gets past the fake Alertmanager, which refuses what the real one refuses', async () => {
    const e = engine();
    await createSilence(e, { matchers: [{ name: 'severity', value: 'info', op: '!=' }], duration: '1h', comment: 'all but info' }, 't', resolveNode);
    await settle(e);
    expect(am.silences).toHaveLength(1);
    expect(am.isSilenced({ alertname: 'Hot', severity: 'warning' })).toBe(true);
    expect(am.isSilenced({ alertname: 'Hot', severity: 'info' })).toBe(false);
  });
});

describe('a garbled answer', () => {
  it('is not taken for a stored copy: logged and tried again', async () => {
    const warnings: string[] = [];
    const garbled = await startReceiver(() => 200); // answers {} without a silenceID
    try {
      const yaml = `receivers:\n  - {name: am, type: alertmanager, url: "${garbled.url}"}\ndefaultReceivers: [am]\nrules: []`;
      const e = engineFor(yaml, fleet, clock, {
        log: { warn: (o: object, m: string) => warnings.push(`${m} ${JSON.stringify(o)}`) } as never,
        notifier: { random: () => 0.5 },
      });
      engines.push(e);
      const s = await e.silences.create(
        { matchers: [{ name: 'alertname', value: 'X' }], endsAt: clock.now() + MIN * 60, comment: 'c', createdBy: 't' },
        clock.now(),
      );
      e.tick();
      await e.silenceSync.idle();
      expect(e.silenceSync.mirrored('am', [s.id])).toBe(false);
      expect(warnings.join('\n')).toMatch(/Alertmanager answered without a silenceID/);
      clock.advance(MIN);
      e.tick();
      await e.silenceSync.idle();
      expect(garbled.posts.map((p) => p.path)).toEqual(['/api/v2/silences', '/api/v2/silences']);
    } finally {
      await garbled.close();
    }
  });
});
