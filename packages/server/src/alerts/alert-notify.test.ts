import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlertEngine } from './alert-engine.js';
import { SILENCES_SETTING } from './silences.js';
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

/** The engine end to end against real HTTP receivers: who hears what, when. */

let clock: TestClock;
let fleet: FakeFleet;
let hook: Receiver;
let chat: Receiver;
let am: Receiver;
let quiet: Receiver;
const engines: AlertEngine[] = [];

beforeEach(async () => {
  clock = new TestClock();
  fleet = new FakeFleet();
  fleet.add(makeNode('n1', { hostname: 'box', labels: { region: 'eu', 'gpu.model': 'H100', severity: 'low' } }));
  [hook, chat, am, quiet] = await Promise.all([startReceiver(), startReceiver(), startReceiver(), startReceiver()]);
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop(100);
  await Promise.all([hook, chat, am, quiet].map((r) => r.close()));
});

function rules(): string {
  return `
receivers:
  - {name: hook, type: webhook, url: "${hook.url}/hook", headers: {X-Token: abc}}
  - {name: chat, type: slack, url: "${chat.url}/services/T/B/C"}
  - {name: am, type: alertmanager, url: "${am.url}", resendInterval: 1m}
  - {name: quiet, type: webhook, url: "${quiet.url}", sendResolved: false}
defaultReceivers: [hook, chat, am, quiet]
rules:
  - name: Hot
    kind: metric
    metric: gpu_temp_c
    above: 85
    for: 1m
    severity: warning
    labels: {team: infra}
    summary: "GPU {{gpu}} on {{hostname}} at {{value}} °C"
    runbook: https://wiki.example/hot-gpu
`;
}

function engine(settings = new MemorySettings()): AlertEngine {
  const e = engineFor(rules(), fleet, clock, { settings, notifier: { random: () => 0.5 } });
  engines.push(e);
  return e;
}

function temp(value: number): void {
  fleet.metrics.set('n1', metricsOf(clock.now(), [gpuSample('n1', 0, { temperatureC: value })]));
}

/** What the metrics carry for this GPU, the node's labels made label-safe, and the rule's. */
const LABELS = {
  alertname: 'Hot',
  severity: 'warning',
  node: 'n1',
  hostname: 'box',
  Hostname: 'box',
  gpu: '0',
  UUID: uuidOf('n1', 0),
  pci_bus_id: '00000000:17:00.0',
  modelName: 'NVIDIA H100 80GB HBM3',
  team: 'infra',
  region: 'eu',
  gpu_model: 'H100',
};

describe('notifications from the engine', () => {
  it('tell every receiver when an alert fires and when it resolves, each in its own format', async () => {
    const e = engine();
    temp(90);
    e.tick();
    clock.advance(30_000);
    e.tick();
    await e.notifier.idle();
    expect(hook.posts).toHaveLength(0); // pending: nobody is told yet

    clock.advance(30_000);
    temp(93);
    e.tick();
    const [fired] = await hook.waitFor(1);
    expect(fired!.path).toBe('/hook');
    expect(fired!.headers['x-token']).toBe('abc');
    const alert = (fired!.body as { status: string; alert: Record<string, unknown> }).alert;
    expect((fired!.body as { status: string }).status).toBe('firing');
    expect(alert).toMatchObject({
      rule: 'Hot',
      severity: 'warning',
      nodeId: 'n1',
      hostname: 'box',
      gpu: uuidOf('n1', 0),
      gpuIndex: 0,
      value: 93,
      labels: LABELS,
      annotations: { summary: 'GPU 0 on box at 93 °C', runbook_url: 'https://wiki.example/hot-gpu' },
      startsAt: new Date(T0).toISOString(),
      endsAt: null,
      generatorURL: 'https://fleet.example:7420/nodes/n1',
    });
    const [slack] = await chat.waitFor(1);
    expect(slack!.body).toEqual({ text: ':warning: *[FIRING:warning]* Hot: GPU 0 on box at 93 °C (<https://fleet.example:7420/nodes/n1|details>)' });
    const [amPost] = await am.waitFor(1);
    expect(amPost!.path).toBe('/api/v2/alerts');
    expect(amPost!.body).toEqual([
      {
        labels: LABELS,
        annotations: { summary: 'GPU 0 on box at 93 °C', runbook_url: 'https://wiki.example/hot-gpu' },
        startsAt: new Date(T0).toISOString(),
        endsAt: new Date(clock.now() + 4 * 60_000).toISOString(),
        generatorURL: 'https://fleet.example:7420/nodes/n1',
      },
    ]);
    await quiet.waitFor(1);

    clock.advance(20_000);
    temp(70);
    e.tick();
    const resolvedAt = new Date(clock.now()).toISOString();
    const posts = await hook.waitFor(2);
    expect(posts[1]!.body).toMatchObject({ status: 'resolved', alert: { endsAt: resolvedAt, startsAt: new Date(T0).toISOString() } });
    expect(((await chat.waitFor(2))[1]!.body as { text: string }).text).toMatch(/^:white_check_mark: \*\[RESOLVED\]\* Hot: /);
    expect(((await am.waitFor(2))[1]!.body as Array<{ endsAt: string }>)[0]!.endsAt).toBe(resolvedAt);
    await e.notifier.idle();
    expect(quiet.posts).toHaveLength(1); // sendResolved: false
  });

  it('re-send firing alerts to Alertmanager every resendInterval, and only those', async () => {
    const e = engine();
    temp(90);
    e.tick();
    clock.advance(60_000);
    e.tick();
    await am.waitFor(1);
    clock.advance(30_000);
    e.tick();
    await e.notifier.idle();
    expect(am.posts).toHaveLength(1);
    clock.advance(30_000);
    e.tick();
    const posts = await am.waitFor(2);
    expect((posts[1]!.body as Array<{ labels: { alertname: string }; endsAt: string }>).map((a) => [a.labels.alertname, a.endsAt])).toEqual([
      ['Hot', new Date(clock.now() + 240_000).toISOString()],
    ]);
    await e.notifier.idle();
    expect(hook.posts).toHaveLength(1); // webhooks hear of a transition once
  });

  it('keep silenced alerts quiet, and send them when the silence ends while they still fire', async () => {
    const settings = new MemorySettings();
    const e = engine(settings);
    await e.silences.create(
      {
        matchers: [
          { name: 'alertname', value: 'Hot' },
          { name: 'hostname', value: 'box' },
        ],
        endsAt: clock.now() + 10 * 60_000,
        comment: 'maintenance',
        createdBy: 'token:ops',
      },
      clock.now(),
    );
    temp(90);
    e.tick();
    clock.advance(60_000);
    e.tick();
    clock.advance(2 * 60_000); // past the Alertmanager resend interval too
    e.tick();
    await e.notifier.idle();
    expect([hook.posts.length, chat.posts.length, am.posts.length]).toEqual([0, 0, 0]);
    expect(e.history.list()[0]).toMatchObject({ from: 'pending', to: 'firing' }); // the state moved on regardless

    // The silence is stored: a restarted engine still honours it.
    expect(JSON.parse(settings.values.get(SILENCES_SETTING)!)).toHaveLength(1);
    const again = engine(settings);
    await again.load();
    expect(again.silences.list(clock.now()).map((s) => s.comment)).toEqual(['maintenance']);

    clock.advance(7 * 60_000);
    temp(91); // a fresh sample: the GPU is still hot
    e.tick();
    await hook.waitFor(1);
    await am.waitFor(1);
    expect((hook.posts[0]!.body as { status: string }).status).toBe('firing');
  });

  it('tell receivers that heard an alert fire when it resolves, even under a silence made since', async () => {
    const e = engine();
    temp(90);
    e.tick();
    clock.advance(60_000);
    e.tick();
    await hook.waitFor(1);
    await e.silences.create(
      { matchers: [{ name: 'alertname', value: 'Hot' }], endsAt: clock.now() + 3_600_000, comment: 'known', createdBy: 't' },
      clock.now(),
    );
    clock.advance(10_000);
    temp(60);
    e.tick();
    const posts = await hook.waitFor(2);
    expect((posts[1]!.body as { status: string }).status).toBe('resolved');
  });
});
