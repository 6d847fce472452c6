import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSimFleet, type SimFleet } from '@gpufleet/sim';
import { CHROMIUM, CHROMIUM_ARGS, SCREENSHOT_DIR, assertPrerequisites, failOnNativeDialogs } from '../../packages/web/e2e/harness.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * The admin's pages in a real Chromium against a real control plane and 3 simulated hosts:
 * a join token that needs approval made in the UI, a fourth host joining with it and waiting
 * PENDING, approved from the overview's notice and the node page; an API token made in the UI and
 * used to sign in from a fresh browser; a fatal XID seen in the alert history; confirmations in
 * the dashboard's own dialog (a native one fails the step). Screenshots: test-output/web/admin-*.
 * Needs packages/web/dist (npm run build -w @gpufleet/web) and /usr/bin/chromium (.ci/run).
 */

const FAULT_GPU = 2;

/** Values the steps hand on: the joining host, the API token made in the UI. */
const state: { joinToken?: string; pendingHost?: string; apiToken?: string; apiTokenName?: string } = {};
const extra: { fleet?: SimFleet; work?: string; browser?: Browser } = {};

const { registerHooks, hx, page, tid, signIn } = dashboardSuite({
  harness: { hosts: 3 },
  async teardown() {
    await extra.browser?.close().catch(() => undefined);
    await extra.fleet?.stop().catch(() => undefined);
    if (extra.work) rmSync(extra.work, { recursive: true, force: true });
  },
});

/** A host of the first fleet with NVIDIA GPUs (XID is an NVIDIA kernel message). */
const nvidiaHost = () => hx().fleet.agents.find((a) => a.model === 'H100' || a.model === 'A100')!.hostname;

async function nodeStatus(hostname: string): Promise<string | null> {
  const r = await hx().server.api('GET', `/api/v1/nodes/${encodeURIComponent(hostname)}`);
  return r.status === 200 ? (r.body.status as string) : null;
}

/** Clicks through the dashboard's confirmation dialog, typing a reason when given. */
async function confirmDialog(p: Page, opts: { reason?: string; type?: string } = {}): Promise<string> {
  const dialog = p.getByTestId('confirm-dialog');
  await dialog.waitFor();
  // showModal: the dialog is modal, so the page behind it is inert.
  expect(await dialog.evaluate((d) => d.matches(':modal'))).toBe(true);
  const text = (await dialog.textContent()) ?? '';
  if (opts.reason !== undefined) await p.getByTestId('confirm-reason').fill(opts.reason);
  if (opts.type !== undefined) await p.getByTestId('confirm-type').fill(opts.type);
  await p.getByTestId('confirm-ok').click();
  await dialog.waitFor({ state: 'detached' });
  return text;
}

describe('admin pages end to end (Chromium, real server, 3 simulated hosts)', () => {
  registerHooks();

  it('the dashboard build and the browser are there', () => {
    assertPrerequisites();
    hx();
  });

  it('signs in as admin', async () => {
    await signIn();
    await tid('nav-api-tokens').waitFor({ timeout: 15_000 });
    // Nobody waits for approval yet: no notice.
    await tid('overview-nodes-total').waitFor();
    expect(await tid('overview-pending').count()).toBe(0);
  }, 30_000);

  it('creates a join token that needs approval', async () => {
    await tid('nav-tokens').click();
    await tid('tokens-description').fill('needs a look first');
    await tid('tokens-needs-approval').check();
    await tid('tokens-create').click();
    const text = (await tid('tokens-created-command').textContent()) ?? '';
    const m = text.match(/gpufleet-agent join (gfj1\.[A-Za-z0-9_-]+)/);
    expect(m, `join command shown: ${text}`).not.toBeNull();
    state.joinToken = m![1]!;
    const tokens = (await hx().server.api('GET', '/api/v1/join-tokens')).body.items as { description: string; needsApproval: boolean }[];
    expect(tokens.find((t) => t.description === 'needs a look first')?.needsApproval).toBe(true);
    await hx().screenshot('admin-join-token-approval');
  }, 30_000);

  it('a host joining with it waits PENDING, and the overview says so', async () => {
    extra.work = mkdtempSync(join(tmpdir(), 'gpufleet-admin-e2e-'));
    // Another model than the first three hosts, so its hostname is new (sim-mi300x-001).
    extra.fleet = await startSimFleet({
      token: state.joinToken!,
      count: 1,
      seed: 'admin-e2e-late-host',
      mix: { MI300X: 1 },
      agentVersion: 'web-e2e',
      startSpreadMs: 0,
      agentOptions: { metricsIntervalMs: 1000, backoff: { baseMs: 100, capMs: 1000 } },
    });
    await extra.fleet.started;
    state.pendingHost = extra.fleet.agents[0]!.hostname;
    expect(await nodeStatus(state.pendingHost)).toBe('PENDING');

    await tid('nav-overview').click();
    const notice = tid('overview-pending');
    await notice.waitFor({ timeout: 20_000 });
    expect(await notice.getAttribute('data-count')).toBe('1');
    expect(await notice.textContent()).toMatch(/1 node waits for approval/);
    await hx().screenshot('admin-overview-pending');
    await tid('overview-pending-link').click();
    await page().waitForURL(/\/nodes\?status=PENDING/);
    const row = page().locator(`[data-testid="nodes-row"][data-hostname="${state.pendingHost}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('PENDING');
    expect(await page().locator('[data-testid="nodes-row"]').count()).toBe(1);
    await page().locator(`[data-testid="pending-node"][data-hostname="${state.pendingHost}"]`).waitFor();
    await hx().screenshot('admin-nodes-pending');
  }, 40_000);

  it('the admin approves it on its node page and sees it READY', async () => {
    await page().locator(`[data-testid="nodes-row"][data-hostname="${state.pendingHost}"]`).click();
    await tid('node-pending-note').waitFor();
    expect(await tid('node-status').textContent()).toBe('PENDING');
    // A PENDING node is approved or removed, not cordoned or drained.
    expect(await tid('node-cordon').count()).toBe(0);
    await hx().screenshot('admin-node-pending');
    await tid('node-approve').click();
    const asked = await confirmDialog(page());
    expect(asked).toContain(`Approve ${state.pendingHost}?`);
    await expect.poll(() => tid('node-status').textContent(), { timeout: 15_000 }).toBe('READY');
    expect(await nodeStatus(state.pendingHost!)).toBe('READY');
    expect(await tid('node-pending-note').count()).toBe(0);
    const audit = (await hx().server.api('GET', '/api/v1/audit?limit=50')).body.items as { action: string; target: string | null }[];
    expect(audit.some((e) => /approve/i.test(e.action))).toBe(true);
    await tid('nav-overview').click();
    await tid('overview-nodes-total').waitFor();
    await expect.poll(() => tid('overview-pending').count(), { timeout: 10_000 }).toBe(0);
    await hx().screenshot('admin-node-approved');
  }, 40_000);

  it('asks before cordoning, with an optional reason the server records', async () => {
    await page().goto(`${hx().url}/nodes/${state.pendingHost}`);
    await tid('node-cordon').click();
    await confirmDialog(page(), { reason: 'checking the new host' });
    await expect.poll(() => tid('node-status').textContent(), { timeout: 10_000 }).toBe('CORDONED');
    const node = (await hx().server.api('GET', `/api/v1/nodes/${state.pendingHost}`)).body;
    expect(node.statusChange.reason).toBe('checking the new host');
    // Esc cancels: nothing changes.
    await tid('node-uncordon').click();
    await tid('confirm-dialog').waitFor();
    await page().keyboard.press('Escape');
    await tid('confirm-dialog').waitFor({ state: 'detached' });
    expect(await nodeStatus(state.pendingHost!)).toBe('CORDONED');
    // The focus went back to the button that asked.
    expect(await page().evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('node-uncordon');
    await tid('node-uncordon').click();
    await confirmDialog(page());
    await expect.poll(() => tid('node-status').textContent(), { timeout: 10_000 }).toBe('READY');
  }, 30_000);

  it('creates an API token in the UI; its secret signs in from a fresh browser', async () => {
    await tid('nav-api-tokens').click();
    state.apiTokenName = 'e2e-viewer';
    await tid('api-tokens-name').fill(state.apiTokenName);
    await tid('api-tokens-role').selectOption('viewer');
    await tid('api-tokens-create').click();
    const secret = (await tid('api-tokens-secret').textContent()) ?? '';
    expect(secret).toMatch(/^gft_[0-9a-f]{16}_/);
    state.apiToken = secret;
    await page().locator(`[data-testid="api-tokens-row"][data-name="${state.apiTokenName}"]`).waitFor();
    await hx().screenshot('admin-api-token-created');
    await tid('api-tokens-secret-done').click();
    expect(await page().locator('body').innerText()).not.toContain(secret);

    extra.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const context = await extra.browser.newContext({ viewport: { width: 390, height: 844 } });
    const fresh = await context.newPage();
    fresh.setDefaultTimeout(10_000);
    const errors: string[] = [];
    fresh.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    fresh.on('pageerror', (e) => errors.push(e.message));
    failOnNativeDialogs(fresh, errors);
    await fresh.goto(`${hx().url}/`);
    await fresh.getByTestId('signin-token').fill(secret);
    await fresh.getByTestId('signin-submit').click();
    await fresh.getByTestId('nav-overview').waitFor({ timeout: 15_000 });
    expect(await fresh.locator('.whoami').textContent()).toContain(state.apiTokenName);
    // A viewer is offered no admin pages.
    expect(await fresh.getByTestId('nav-api-tokens').count()).toBe(0);
    await fresh.screenshot({ path: join(SCREENSHOT_DIR, 'admin-fresh-viewer-390.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
    // The server saw the token used.
    const listed = (await hx().server.api('GET', '/api/v1/api-tokens')).body.items as { name: string; lastUsedAt: string | null }[];
    expect(listed.find((t) => t.name === state.apiTokenName)?.lastUsedAt).not.toBeNull();
  }, 40_000);

  it('revokes that token after asking, and it stops working', async () => {
    const row = page().locator(`[data-testid="api-tokens-row"][data-name="${state.apiTokenName}"]`);
    await row.getByRole('button', { name: 'Revoke' }).click();
    await confirmDialog(page());
    await row.waitFor({ state: 'detached' });
    const res = await fetch(`${hx().url}/api/v1/whoami`, { headers: { authorization: `Bearer ${state.apiToken}` } });
    expect(res.status).toBe(401);
  }, 20_000);

  it('a fatal XID shows as state changes in the alert history, filterable by host', async () => {
    const host = nvidiaHost();
    hx().faults.xid(host, FAULT_GPU, 79);
    await expect
      .poll(
        async () =>
          ((await hx().server.api('GET', '/api/v1/alerts?state=firing')).body.items as { rule: string; hostname: string }[]).some(
            (a) => a.rule === 'GpuUnhealthy' && a.hostname === host,
          ),
        { timeout: 15_000 },
      )
      .toBe(true);
    await tid('nav-alerts').click();
    await tid('alerts-tab-history').click();
    const firing = page().locator(`[data-testid="history-row"][data-rule="GpuUnhealthy"][data-node="${host}"][data-to="firing"]`);
    await firing.first().waitFor({ timeout: 15_000 });
    // Hover shows the absolute time.
    expect(await firing.first().locator('time').getAttribute('title')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await hx().screenshot('admin-alert-history');
    // Filtering by another host hides it; by this one keeps it.
    const other = hx().fleet.agents.find((a) => a.hostname !== host)!.hostname;
    await tid('history-host').fill(other);
    await expect.poll(() => firing.count(), { timeout: 10_000 }).toBe(0);
    await tid('history-host').fill(host);
    await firing.first().waitFor({ timeout: 10_000 });
    await tid('history-rule').selectOption('GpuUnhealthy');
    await expect
      .poll(
        async () =>
          (
            await page()
              .locator('[data-testid="history-row"]')
              .evaluateAll((els) => els.map((e) => e.getAttribute('data-rule')))
          ).every((r) => r === 'GpuUnhealthy'),
        { timeout: 10_000 },
      )
      .toBe(true);
    await tid('history-host').fill('no-such-host');
    await tid('history-filter-error').waitFor({ timeout: 10_000 });
  }, 40_000);

  it('expires a silence after asking', async () => {
    const host = nvidiaHost();
    await tid('silence-node').fill(host);
    await tid('silence-create').click();
    const row = page().locator('[data-testid="silence-row"]');
    await row.first().waitFor({ timeout: 10_000 });
    const id = await row.first().getAttribute('data-id');
    await hx().screenshot('admin-alerts-silence');
    await tid(`silence-expire-${id}`).click();
    await confirmDialog(page());
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(0);
    const active = (await hx().server.api('GET', '/api/v1/silences')).body.items as unknown[];
    expect(active).toEqual([]);
  }, 30_000);

  it('the dialog fits a 390 px phone in the dark theme, keyboard first', async () => {
    await page().setViewportSize({ width: 390, height: 844 });
    await tid('theme-toggle').click();
    try {
      expect(await page().evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
      await page().goto(`${hx().url}/nodes/${state.pendingHost}`);
      await tid('node-remove').click();
      const dialog = tid('confirm-dialog');
      await dialog.waitFor();
      const box = (await dialog.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      // The typed-name field has the focus, so the keyboard can go on at once.
      expect(await page().evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('confirm-type');
      await page().keyboard.type(state.pendingHost!);
      expect(await tid('confirm-ok').isEnabled()).toBe(true);
      await hx().screenshot('admin-dialog-dark-390');
      await page().keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      expect(await nodeStatus(state.pendingHost!)).toBe('READY');
    } finally {
      await tid('theme-toggle').click();
      await page().setViewportSize({ width: 1280, height: 1000 });
    }
  }, 30_000);

  it('removes a node after its hostname is typed', async () => {
    await page().goto(`${hx().url}/nodes/${state.pendingHost}`);
    await tid('node-remove').click();
    await tid('confirm-dialog').waitFor();
    expect(await tid('confirm-ok').isDisabled()).toBe(true);
    await hx().screenshot('admin-node-remove-dialog');
    await confirmDialog(page(), { type: state.pendingHost! });
    await page().waitForURL(/\/nodes$/);
    expect(await nodeStatus(state.pendingHost!)).toBe('DECOMMISSIONED');
  }, 30_000);

  it('a native confirm is caught as a browser error, so none creeps back', async () => {
    const answered = await page().evaluate(() => window.confirm('native?'));
    expect(answered).toBe(false);
    expect(hx().errors.splice(0)).toEqual([expect.stringMatching(/^native confirm dialog "native\?"/)]);
  }, 20_000);
});
