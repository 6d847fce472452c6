import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCREENSHOT_DIR } from '../../packages/web/e2e/harness.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';
import { createOperatorKey, type OperatorKey } from '../../packages/cli/src/keys/index.js';
import { E2eHost } from '../e2e/support/e2e-host.js';
import { waitFor } from '../e2e/support/wait-for.js';
import { PodmanEnv } from '../containers/podman-env.js';

/*
 * The node page's containers panel in a real Chromium against a real control plane, with one
 * host whose agent talks to a real Podman (scripts/podman-test-env.sh) and trusts an operator
 * key made for the test as its fleet root. The operator unlocks that key file on /keys, then
 * lists the host's containers, tails the log of one that prints a line every 0.2 s, stops the
 * tail and restarts another container, each a command signed in the browser and checked by the
 * host. Screenshots: test-output/web/containers-*. Needs packages/web/dist, /usr/bin/chromium and
 * podman + runc + busybox-static (.ci/run installs them).
 */

const HOST = 'podman-host';
const PASSPHRASE = 'correct horse battery staple';
// `trap`: a shell as PID 1 ignores SIGTERM, and restart would wait out the whole grace time.
const TICKER = "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done";

let podman: PodmanEnv | null = null;
let host: E2eHost | null = null;
let key: OperatorKey | null = null;
let keyDir = '';
const names = { ticker: '', victim: '' };

const { registerHooks, hx, page, tid, signIn } = dashboardSuite({
  harness: { hosts: 2 },
  async setup(harness) {
    podman = await PodmanEnv.start();
    names.ticker = await podman.runContainer('ticker', TICKER);
    names.victim = await podman.runContainer('victim', TICKER);
    keyDir = mkdtempSync(join(tmpdir(), 'gpufleet-web-keys-'));
    key = createOperatorKey('ops', { dir: keyDir, passphrase: PASSPHRASE });
    // The key becomes the fleet root before the join token is made: the token carries it to the host.
    const init = await harness.server.api('POST', '/api/v1/roots/init', { did: key.did });
    if (init.status !== 201) throw new Error(`roots/init answered ${init.status}: ${init.text}`);
    const token = await harness.server.api('POST', '/api/v1/join-tokens', { reusable: false, description: 'containers e2e host' });
    if (token.status !== 201) throw new Error(`join-tokens answered ${token.status}: ${token.text}`);
    host = await E2eHost.joinAndStart({
      token: token.body.token,
      hostname: HOST,
      gpuCount: 1,
      agentOptions: { exec: { containerSocketPath: podman.socketPath } },
    });
    // expect.poll works only inside a test: a failed wait here must fail the steps, not pass unseen.
    await waitFor(
      `${HOST} to be READY`,
      async () => {
        const status = (await harness.server.api('GET', `/api/v1/nodes/${HOST}`)).body?.status;
        if (status !== 'READY') throw new Error(`its status is ${status ?? 'unknown (not enrolled)'}`);
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
  },
  async teardown() {
    await host?.dispose().catch(() => undefined);
    await podman?.close();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  },
  setupTimeoutMs: 150_000,
  teardownTimeoutMs: 60_000,
});

const row = (name: string) => page().locator(`[data-testid="container-row"][data-name="${name}"]`);

/** Moves within the single-page app (a reload would forget the unlocked key, by design). */
async function go(path: string): Promise<void> {
  await page().evaluate((to) => {
    window.history.pushState(null, '', to);
    window.dispatchEvent(new PopStateEvent('popstate'));
  }, path);
}

/** The highest `tick N` in the log pane (0 when none yet). */
async function lastTick(): Promise<number> {
  const text = (await tid('container-log').textContent()) ?? '';
  return Math.max(0, ...[...text.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1])));
}

/** The newest run of the server whose command summary (`container OP NAME`) starts with `text`. */
async function latestRun(text: string): Promise<{ id: string; state: string; targets: { state: string; hostname: string }[] }> {
  const list = await hx().server.api('GET', '/api/v1/runs?limit=20');
  const found = (list.body.items as { id: string; command: { summary: string } }[]).find((r) => r.command.summary.startsWith(text));
  if (!found) throw new Error(`no run mentions ${text}: ${JSON.stringify(list.body.items.map((r: { command: { summary: string } }) => r.command.summary))}`);
  return (await hx().server.api('GET', `/api/v1/runs/${found.id}`)).body;
}

async function startedAt(name: string): Promise<string> {
  return podman!.podman(['inspect', '-f', '{{.State.StartedAt}}', name]);
}

describe('containers panel end to end (Chromium, real server, real Podman)', () => {
  registerHooks();

  it('without an unlocked key the panel shows the CLI commands and the way to /keys', async () => {
    await signIn();
    await go(`/nodes/${HOST}`);
    await tid('containers-need-key').waitFor();
    expect(await tid('containers-cli').textContent()).toContain(`gpufleet containers logs ${HOST}/NAME -f`);
    expect(await tid('containers-keys-link').getAttribute('href')).toBe('/keys');
    expect(await tid('containers-list').count()).toBe(0);
  }, 30_000);

  it('the key file unlocks on /keys', async () => {
    await tid('containers-keys-link').click();
    await tid('key-file').setInputFiles(key!.path);
    await tid('key-passphrase').fill(PASSPHRASE);
    await tid('key-unlock').click();
    // scrypt in the browser takes a moment.
    await expect
      .poll(
        async () =>
          (
            await tid('key-did')
              .textContent()
              .catch(() => '')
          )?.trim(),
        { timeout: 30_000 },
      )
      .toBe(key!.did);
  }, 45_000);

  it('lists the containers of the host through a signed run', async () => {
    await go(`/nodes/${HOST}`);
    await tid('containers-list').click();
    await row(names.ticker).waitFor({ timeout: 20_000 });
    expect(await row(names.ticker).getAttribute('data-state')).toBe('running');
    expect(await row(names.ticker).textContent()).toContain('localhost/fleet-test:1');
    expect(await row(names.victim).count()).toBe(1);
    // The host ran it as the key's command: the run is the host's, signed by the key.
    const run = await latestRun('container ls');
    expect(run).toMatchObject({ state: 'succeeded', invoker: key!.did, ability: 'container/logs', selector: `hostname=${HOST}` });
  }, 30_000);

  it('tails a log live: new lines keep arriving, and Stop cancels the run', async () => {
    await row(names.ticker).getByTestId('container-logs').click();
    await expect.poll(lastTick, { timeout: 20_000 }).toBeGreaterThan(0);
    const first = await lastTick();
    // The container prints every 0.2 s: later lines than the first seen must come in over the stream.
    await expect.poll(lastTick, { timeout: 15_000 }).toBeGreaterThanOrEqual(first + 5);
    expect(await tid('container-log-status').textContent()).toBe('live');
    await hx().screenshot('containers-log-tail');
    await tid('containers-panel').screenshot({ path: join(SCREENSHOT_DIR, 'containers-panel.png') });

    await tid('container-log-stop').click();
    await expect
      .poll(
        async () =>
          tid('container-log-end')
            .textContent()
            .catch(() => ''),
        { timeout: 15_000 },
      )
      .toBe('Stopped.');
    const run = await latestRun(`container logs ${names.ticker}`);
    expect(run.state).toBe('canceled');
    expect(run.targets.map((t) => [t.hostname, t.state])).toEqual([[HOST, 'canceled']]);
  }, 60_000);

  it('restarts a container after the confirmation, and the host really restarted it', async () => {
    const before = await startedAt(names.victim);
    await row(names.victim).getByTestId('container-restart').click();
    const dialog = tid('confirm-dialog');
    await dialog.waitFor();
    expect(await dialog.evaluate((d) => d.matches(':modal'))).toBe(true);
    const preview = (await tid('containers-preview').textContent()) ?? '';
    for (const part of [`restart ${names.victim}`, `hostname=${HOST}`, 'container/restart']) expect(preview).toContain(part);
    await hx().screenshot('containers-confirm-restart');
    await tid('confirm-ok').click();
    await expect
      .poll(
        async () =>
          tid('containers-notice')
            .textContent()
            .catch(() => ''),
        { timeout: 30_000 },
      )
      .toMatch(new RegExp(`^restarted ${names.victim} \\([0-9a-f]{12}\\)$`));
    expect(await startedAt(names.victim)).not.toBe(before);

    await tid('containers-list').click();
    await expect.poll(async () => tid('containers-stale').count(), { timeout: 20_000 }).toBe(0);
    expect(await row(names.victim).getAttribute('data-state')).toBe('running');
  }, 60_000);

  it('fits a phone-sized screen and the dark theme', async () => {
    await page().setViewportSize({ width: 390, height: 900 });
    await tid('theme-toggle').click();
    expect(await page().evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await tid('containers-panel').scrollIntoViewIfNeeded();
    // Nothing in the panel is wider than the screen: the table keeps its buttons in view.
    const overflow = await tid('containers-panel').evaluate((el) =>
      Math.max(el.scrollWidth - el.clientWidth, ...Array.from(el.querySelectorAll('.table-wrap'), (w) => w.scrollWidth - w.clientWidth)),
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await tid('containers-panel').screenshot({ path: join(SCREENSHOT_DIR, 'containers-panel-narrow-dark.png') });
    await tid('theme-toggle').click();
    await page().setViewportSize({ width: 1280, height: 1000 });
  }, 30_000);
});
