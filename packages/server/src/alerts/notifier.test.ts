import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReceiverConfig } from './alert-rules.js';
import type { AlertNotice } from './alert-instance.js';
import { Notifier } from './notifier.js';
import { startReceiver, TestClock, type Receiver } from './__tests__/alert-fixtures.js';

const receivers: Receiver[] = [];
const notifiers: Notifier[] = [];
afterEach(async () => {
  for (const n of notifiers.splice(0)) await n.stop(100);
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(reply?: (n: number) => number | 'hang'): Promise<Receiver> {
  const r = await startReceiver(reply);
  receivers.push(r);
  return r;
}

function config(name: string, url: string, over: Partial<ReceiverConfig> = {}): ReceiverConfig {
  return {
    name,
    type: 'webhook',
    url,
    headers: {},
    sendResolved: true,
    resendIntervalMs: 60_000,
    timeoutMs: 2000,
    attempts: 5,
    initialBackoffMs: 40,
    maxBackoffMs: 1000,
    ...over,
  };
}

function notifier(configs: ReceiverConfig[], extra: Partial<ConstructorParameters<typeof Notifier>[0]> = {}): Notifier {
  const n = new Notifier({ receivers: configs, clock: new TestClock(), ...extra });
  notifiers.push(n);
  return n;
}

const notice = (id = 'a1', status: 'firing' | 'resolved' = 'firing'): AlertNotice => ({
  id,
  status,
  rule: 'Hot',
  severity: 'warning',
  nodeId: 'n1',
  hostname: 'box',
  gpu: 'GPU-1',
  gpuIndex: 1,
  labels: { alertname: 'Hot', severity: 'warning', node: 'n1', hostname: 'box', gpu: 'GPU-1' },
  annotations: { summary: 'GPU 1 on box at 91 °C' },
  value: 91,
  startsAt: '2025-06-01T12:00:00.000Z',
  endsAt: status === 'resolved' ? '2025-06-01T12:10:00.000Z' : null,
  generatorURL: 'https://fleet/api/v1/alerts?rule=Hot',
});

describe('retries', () => {
  it('retry with exponential backoff and jitter until the receiver answers', async () => {
    const r = await receiver((n) => (n <= 2 ? 503 : 200));
    const waits: number[] = [];
    const n = notifier([config('hook', r.url, { initialBackoffMs: 40 })], {
      random: () => 1,
      sleep: (ms) => {
        waits.push(ms);
        return new Promise((res) => setTimeout(res, ms));
      },
    });
    n.send('hook', [notice()], 'a1');
    await n.idle();
    expect(r.posts).toHaveLength(3);
    expect(r.posts.map((p) => p.body)).toEqual([r.posts[0]!.body, r.posts[0]!.body, r.posts[0]!.body]);
    // 40 ms, then doubled; with random() = 1 the jitter adds the whole upper half.
    expect(waits).toEqual([40, 80]);
    expect(r.posts[2]!.at - r.posts[0]!.at).toBeGreaterThanOrEqual(110);
    expect(n.stats()[0]).toMatchObject({ sent: 1, retried: 2, failed: 0, lastError: 'HTTP 503' });
  });

  it('keeps the jittered wait between half and all of the capped exponential step', () => {
    const c = config('x', 'http://127.0.0.1:9', { initialBackoffMs: 1000, maxBackoffMs: 5000 });
    const low = notifier([c], { random: () => 0 });
    const high = notifier([c], { random: () => 1 });
    expect([1, 2, 3, 4, 5].map((a) => low.backoffMs(c, a))).toEqual([500, 1000, 2000, 2500, 2500]);
    expect([1, 2, 3, 4, 5].map((a) => high.backoffMs(c, a))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it('gives up after the configured attempts, and at once on a 4xx refusal', async () => {
    const down = await receiver(() => 500);
    const refusing = await receiver(() => 400);
    const n = notifier([config('down', down.url, { attempts: 3, initialBackoffMs: 5 }), config('refusing', refusing.url, { initialBackoffMs: 5 })]);
    n.send('down', [notice()], 'a1');
    n.send('refusing', [notice()], 'a1');
    await n.idle();
    expect(down.posts).toHaveLength(3);
    expect(refusing.posts).toHaveLength(1);
    expect(n.stats().map((s) => [s.name, s.sent, s.failed, s.retried, s.lastError])).toEqual([
      ['down', 0, 1, 2, 'HTTP 500'],
      ['refusing', 0, 1, 0, 'HTTP 400'],
    ]);
  });

  it('retries a 429 and a receiver that does not answer within the timeout', async () => {
    const limited = await receiver((n) => (n === 1 ? 429 : 200));
    const slow = await receiver((n) => (n === 1 ? 'hang' : 200));
    const n = notifier([config('limited', limited.url, { initialBackoffMs: 5 }), config('slow', slow.url, { timeoutMs: 150, initialBackoffMs: 5 })]);
    n.send('limited', [notice()], 'a1');
    n.send('slow', [notice()], 'a1');
    await n.idle();
    expect(limited.posts).toHaveLength(2);
    expect(slow.posts).toHaveLength(2);
    expect(n.stats().map((s) => [s.name, s.sent, s.retried])).toEqual([
      ['limited', 1, 1],
      ['slow', 1, 1],
    ]);
  });

  it('times out a silent receiver even when garbage collections run during the wait', async () => {
    // Node 20 loses an AbortSignal.timeout combined with AbortSignal.any once it is collected.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const slow = await receiver((n) => (n === 1 ? 'hang' : 200));
    const n = notifier([config('slow', slow.url, { timeoutMs: 150, initialBackoffMs: 5 })]);
    const collecting = setInterval(gc, 10);
    try {
      n.send('slow', [notice()], 'a1');
      await n.idle();
    } finally {
      clearInterval(collecting);
    }
    expect(slow.posts).toHaveLength(2);
    expect(n.stats()[0]).toMatchObject({ sent: 1, retried: 1, lastError: 'no answer within 150 ms' });
  });

  it('a receiver that always fails never holds up another', async () => {
    const broken = await receiver(() => 500);
    const fine = await receiver();
    const n = notifier([config('broken', broken.url, { attempts: 2, initialBackoffMs: 600, maxBackoffMs: 600 }), config('fine', fine.url)]);
    for (let i = 0; i < 3; i++) {
      n.send('broken', [notice(`a${i}`)], `a${i}`);
      n.send('fine', [notice(`a${i}`)], `a${i}`);
    }
    await fine.waitFor(3);
    // Everything reached the healthy receiver while the broken one was still waiting to retry.
    expect(broken.posts.length).toBeLessThanOrEqual(3);
    await n.idle();
    expect(broken.posts).toHaveLength(6);
    expect(Math.max(...fine.posts.map((p) => p.at))).toBeLessThan(Math.min(...broken.posts.slice(3).map((p) => p.at)));
    expect(n.stats().map((s) => [s.name, s.sent, s.failed])).toEqual([
      ['broken', 0, 3],
      ['fine', 3, 0],
    ]);
  });

  it('drops a waiting retry once a newer message about the same alert is queued', async () => {
    const r = await receiver((n) => (n === 1 ? 500 : 200));
    const n = notifier([config('hook', r.url, { initialBackoffMs: 100, maxBackoffMs: 100 })], { random: () => 1 });
    n.send('hook', [notice('a1', 'firing')], 'a1');
    await r.waitFor(1);
    n.send('hook', [notice('a1', 'resolved')], 'a1');
    await n.idle();
    expect(r.posts.map((p) => (p.body as { status: string }).status)).toEqual(['firing', 'resolved']);
    expect(n.stats()[0]).toMatchObject({ sent: 1, superseded: 1 });
  });

  it('stops cleanly: waiting retries are cancelled and nothing more is sent', async () => {
    const r = await receiver(() => 500);
    const n = notifier([config('hook', r.url, { initialBackoffMs: 10_000, maxBackoffMs: 10_000 })]);
    n.send('hook', [notice()], 'a1');
    await r.waitFor(1);
    const started = Date.now();
    await n.stop(50);
    expect(Date.now() - started).toBeLessThan(2000);
    n.send('hook', [notice('a2')], 'a2');
    await new Promise((res) => setTimeout(res, 50));
    expect(r.posts).toHaveLength(1);
  });
});

describe('bodies', () => {
  it('webhook: the notice as JSON with the configured headers', async () => {
    const r = await receiver();
    const n = notifier([config('hook', `${r.url}/in`, { headers: { Authorization: 'Bearer t0k' } })]);
    n.send('hook', [notice()], 'a1');
    const [post] = await r.waitFor(1);
    expect(post).toMatchObject({ method: 'POST', path: '/in' });
    expect(post!.headers['content-type']).toBe('application/json');
    expect(post!.headers.authorization).toBe('Bearer t0k');
    expect(post!.body).toEqual({ version: '1', source: 'gpufleet', status: 'firing', alert: notice() });
  });

  it('slack: one compact text line, Slack-escaped', async () => {
    const r = await receiver();
    const n = notifier([config('chat', r.url, { type: 'slack' })]);
    n.send('chat', [{ ...notice(), annotations: { summary: 'a <b> & c' } }], 'a1');
    n.send('chat', [notice('a2', 'resolved')], 'a2');
    const posts = await r.waitFor(2);
    const texts = posts.map((p) => (p.body as { text: string }).text).sort();
    expect(texts).toEqual([
      ':warning: *[FIRING:warning]* Hot: a &lt;b&gt; &amp; c (<https://fleet/api/v1/alerts?rule=Hot|details>)',
      ':white_check_mark: *[RESOLVED]* Hot: GPU 1 on box at 91 °C (<https://fleet/api/v1/alerts?rule=Hot|details>)',
    ]);
    expect(Object.keys(posts[0]!.body as object)).toEqual(['text']);
  });

  it('alertmanager: POST /api/v2/alerts with labels, annotations, startsAt and endsAt', async () => {
    const r = await receiver();
    const clock = new TestClock(Date.parse('2025-06-01T12:05:00.000Z'));
    const n = new Notifier({ receivers: [config('am', `${r.url}/`, { type: 'alertmanager', resendIntervalMs: 60_000 })], clock });
    notifiers.push(n);
    n.send('am', [notice('a1'), notice('a2', 'resolved')], null);
    const [post] = await r.waitFor(1);
    expect(post!.path).toBe('/api/v2/alerts');
    expect(post!.body).toEqual([
      {
        labels: notice().labels,
        annotations: notice().annotations,
        startsAt: '2025-06-01T12:00:00.000Z',
        endsAt: '2025-06-01T12:09:00.000Z',
        generatorURL: 'https://fleet/api/v1/alerts?rule=Hot',
      },
      {
        labels: notice().labels,
        annotations: notice().annotations,
        startsAt: '2025-06-01T12:00:00.000Z',
        endsAt: '2025-06-01T12:10:00.000Z',
        generatorURL: 'https://fleet/api/v1/alerts?rule=Hot',
      },
    ]);
  });
});
