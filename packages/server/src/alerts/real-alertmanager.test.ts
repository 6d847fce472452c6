import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEngine } from './alert-engine.js';
import { freePort } from '../testing/free-port.js';
import { requireTool } from '../testing/external-tool.js';
import { createSilence, expireSilence } from './alert-api.js';
import { engineFor, FakeFleet, gpuSample, makeNode, metricsOf, startReceiver, uuidOf, type Receiver } from './__tests__/alert-fixtures.js';

/**
 * The engine against a real Alertmanager (Debian's prometheus-alertmanager; .ci/run installs
 * it; a machine without it fails with the install line), in real time: a gpufleet silence reaches
 * Alertmanager, the silenced alert stays active there (suppressed) well past the time
 * Alertmanager would have resolved an alert that went quiet, and nobody is paged until the
 * silence is expired early; the labels and generatorURL arrive as sent.
 */

const BIN = 'prometheus-alertmanager';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface AmAlert {
  labels: Record<string, string>;
  generatorURL: string;
  status: { state: string; silencedBy: string[] };
}

let dir: string;
let am: ChildProcess | null = null;
let amLog = '';
let amUrl: string;
let pager: Receiver;
let engine: AlertEngine | null = null;

async function amAlerts(): Promise<AmAlert[]> {
  return (await fetch(`${amUrl}/api/v2/alerts`)).json() as Promise<AmAlert[]>;
}

describe('a real Alertmanager', () => {
  beforeAll(async () => {
    requireTool(BIN, 'prometheus-alertmanager');
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-am-'));
    pager = await startReceiver();
    const port = await freePort();
    amUrl = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'alertmanager.yml'),
      `route:\n  receiver: pager\n  group_by: [alertname, node]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: pager\n    webhook_configs:\n      - url: ${pager.url}/page\n        send_resolved: true\n`,
    );
    am = spawn(
      BIN,
      [
        `--config.file=${join(dir, 'alertmanager.yml')}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    am.stdout!.on('data', (c: Buffer) => (amLog += c.toString()));
    am.stderr!.on('data', (c: Buffer) => (amLog += c.toString()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (am.exitCode !== null || Date.now() > deadline) throw new Error(`alertmanager did not start: ${amLog}`);
      try {
        if ((await fetch(`${amUrl}/-/ready`)).ok) break;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
  }, 30_000);
  afterAll(async () => {
    await engine?.stop(100);
    if (am && am.exitCode === null) {
      am.kill('SIGTERM');
      await new Promise((r) => am!.once('exit', r));
    }
    await pager?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a silenced alert active and suppressed, pages only once the silence is expired, and resolves it at the end', async () => {
    const clock = { now: () => Date.now() };
    const fleet = new FakeFleet();
    fleet.add(makeNode('n1', { hostname: 'box', labels: { region: 'eu', 'gpu.model': 'H100' } }));
    const hot = (t: number) => fleet.metrics.set('n1', metricsOf(Date.now(), [gpuSample('n1', 0, { temperatureC: t })]));
    engine = engineFor(
      `receivers:\n  - {name: am, type: alertmanager, url: "${amUrl}", resendInterval: 1s, retry: {attempts: 3, initialBackoff: 200ms, maxBackoff: 1s}}\ndefaultReceivers: [am]\nrules:\n  - {name: GpuHot, kind: metric, metric: gpu_temp_c, above: 85, severity: warning, summary: "GPU {{gpu}} hot"}\n`,
      fleet,
      clock as never,
    );
    // Made before the alert fires (the worst case: nothing may page).
    const silence = await createSilence(
      engine,
      {
        matchers: [
          { name: 'alertname', value: 'GpuHot' },
          { name: 'region', value: 'eu' },
        ],
        duration: '1h',
        comment: 'fan swap',
      },
      'token:ops',
      (r) => r,
    );
    await engine.silenceSync.idle();
    const amSilences = (await (await fetch(`${amUrl}/api/v2/silences`)).json()) as Array<{ id: string; status: { state: string }; comment: string }>;
    expect(amSilences.map((s) => [s.status.state, s.comment])).toEqual([['active', `fan swap (gpufleet ${silence.id})`]]);

    // 6 s of a hot GPU: past 4 resend intervals (endsAt = now + 4 s), so an alert that went
    // quiet would be resolved by now.
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      hot(92);
      engine.tick();
      await sleep(250);
    }
    await engine.notifier.idle();
    const [alert, ...others] = await amAlerts();
    expect(others).toEqual([]);
    expect(alert!.status).toMatchObject({ state: 'suppressed', silencedBy: [amSilences[0]!.id] });
    expect(alert!.labels).toEqual({
      alertname: 'GpuHot',
      severity: 'warning',
      node: 'n1',
      hostname: 'box',
      Hostname: 'box',
      gpu: '0',
      UUID: uuidOf('n1', 0),
      pci_bus_id: '00000000:17:00.0',
      modelName: 'NVIDIA H100 80GB HBM3',
      region: 'eu',
      gpu_model: 'H100',
    });
    expect(alert!.generatorURL).toBe('https://fleet.example:7420/nodes/n1');
    expect(pager.posts).toEqual([]); // nobody paged under the silence

    // Expired early in gpufleet: expired in Alertmanager too, which now pages.
    await expireSilence(engine, silence.id);
    await engine.silenceSync.idle();
    const [page] = await pager.waitFor(1, 10_000);
    expect(page!.body).toMatchObject({ status: 'firing', alerts: [{ status: 'firing', labels: { alertname: 'GpuHot', UUID: uuidOf('n1', 0) } }] });

    // The fault ends: Alertmanager resolves it and says so.
    hot(60);
    engine.tick();
    const posts = await pager.waitFor(2, 10_000);
    expect(posts[1]!.body).toMatchObject({ status: 'resolved' });
  }, 40_000);
});
