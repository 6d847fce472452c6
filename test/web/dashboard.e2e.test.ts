import { describe, expect, it } from 'vitest';
import { decodeJoinToken } from '@gpufleet/protocol';
import { assertPrerequisites } from '../../packages/web/e2e/harness.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * The dashboard in a real headless Chromium against a real control plane and 50 simulated hosts
 * (the real agent code on fake hardware, each watching a fake kernel log). Steps run in order on
 * one page, as an operator would click through: sign in, overview, node table, node page, a fatal
 * XID arriving live, the alert, cordon and uncordon, a join token, the other pages. Any console
 * error or uncaught page error fails the step it happened in. Screenshots: test-output/web/.
 * Needs packages/web/dist (npm run build -w @gpufleet/web) and /usr/bin/chromium (.ci/run).
 */

const FAULT_HOST = 'sim-h100-002';
const FAULT_GPU = 3;
const CORDON_GPU = 5;
// The page survives the whole walk-through: a full reload would drop this marker.
const MARKER = 'gpufleet-e2e-no-reload';

const { registerHooks, hx, page, tid } = dashboardSuite({ harness: { hosts: 50 } });

/** The first integer in an element's text ("1,234 nodes" -> 1234). */
async function numberIn(testId: string): Promise<number | null> {
  const text =
    (await tid(testId)
      .first()
      .textContent({ timeout: 2000 })
      .catch(() => null)) ?? '';
  const m = text.replace(/[,\u202f\u00a0 ](?=\d{3}\b)/g, '').match(/\d+/);
  return m ? Number(m[0]) : null;
}

async function attr(selector: string, name: string): Promise<string | null> {
  const el = page().locator(selector).first();
  if ((await el.count()) === 0) return null;
  return el.getAttribute(name, { timeout: 2000 }).catch(() => null);
}

async function markerKept(): Promise<boolean> {
  return page().evaluate((m) => (window as unknown as Record<string, unknown>).__gpufleetE2E === m, MARKER);
}

/** Opens a node's page from the node table, filtered down to that host by the selector box. */
async function openNode(hostname: string): Promise<void> {
  await tid('nav-nodes').click();
  const box = tid('nodes-selector');
  await box.fill(`hostname=${hostname}`);
  await box.press('Enter');
  const row = page().locator(`[data-testid="nodes-row"][data-hostname="${hostname}"]`);
  await row.first().waitFor({ timeout: 10_000 });
  await row.first().click();
  await expect
    .poll(
      async () =>
        (await tid('node-title')
          .textContent()
          .catch(() => '')) ?? '',
      { timeout: 10_000 },
    )
    .toContain(hostname);
}

const gpuRow = (index: number) => `[data-testid="gpu-row"][data-index="${index}"]`;

describe('dashboard end to end (Chromium, real server, 50 simulated hosts)', () => {
  registerHooks();

  it('the dashboard build and the browser are there', () => {
    assertPrerequisites();
    hx();
  });

  it('signs in with the admin token', async () => {
    await page().goto(`${hx().url}/`);
    await tid('signin-token').waitFor({ timeout: 15_000 });
    // Signed out, the navigation is not offered.
    expect(await tid('nav-nodes').count()).toBe(0);
    await hx().screenshot('signin');
    await tid('signin-token').fill(hx().adminToken);
    await tid('signin-submit').click();
    await tid('nav-overview').waitFor({ timeout: 15_000 });
    await page().evaluate((m) => {
      (window as unknown as Record<string, unknown>).__gpufleetE2E = m;
    }, MARKER);
    for (const nav of ['nav-overview', 'nav-nodes', 'nav-alerts', 'nav-events', 'nav-tokens', 'nav-runs', 'nav-audit'])
      expect(await tid(nav).count(), nav).toBeGreaterThan(0);
  }, 30_000);

  it('the overview counts what the API counts, with one heatmap cell per GPU', async () => {
    await tid('nav-overview').click();
    const summary = (await hx().server.api('GET', '/api/v1/fleet/summary')).body;
    expect(summary.nodes.total).toBe(50);
    expect(summary.gpus.total).toBe(400);
    await expect.poll(() => numberIn('overview-nodes-total'), { timeout: 10_000 }).toBe(summary.nodes.total);
    await expect.poll(() => numberIn('overview-gpus-total'), { timeout: 10_000 }).toBe(summary.gpus.total);
    await expect.poll(() => numberIn('overview-status-READY'), { timeout: 10_000 }).toBe(summary.nodes.byStatus.READY);
    // The heatmap is a canvas: it marks what it painted on itself (test/web/heatmap.e2e.test.ts
    // hovers every cell and reads its pixels).
    const heatmap = tid('heatmap');
    await expect.poll(() => heatmap.getAttribute('data-drawn-cells'), { timeout: 10_000 }).toBe(String(summary.gpus.total));
    expect(await heatmap.getAttribute('data-nodes')).toBe(String(summary.nodes.total));
    const box = (await heatmap.boundingBox())!;
    const cell = Number(await heatmap.getAttribute('data-cell'));
    await page().mouse.move(box.x + cell / 2, box.y + cell / 2);
    const firstHost = ((await hx().server.api('GET', '/api/v1/nodes?limit=100')).body.items as { hostname: string }[])
      .map((n) => n.hostname)
      .sort(new Intl.Collator('en', { numeric: true }).compare)[0];
    await expect.poll(() => tid('heatmap-tooltip').getAttribute('data-node'), { timeout: 5000 }).toBe(firstHost);
    await page().mouse.move(0, 0);
    await hx().screenshot('overview');
    expect(await markerKept()).toBe(true);
  }, 30_000);

  it('filters the node table with a label selector', async () => {
    await tid('nav-nodes').click();
    await page().locator('[data-testid="nodes-row"]').first().waitFor({ timeout: 10_000 });
    const selector = 'gpu.model=H100';
    const expected = ((await hx().server.api('GET', `/api/v1/nodes?selector=${encodeURIComponent(selector)}&limit=1000`)).body.items as { hostname: string }[])
      .map((n) => n.hostname)
      .sort();
    expect(expected.length).toBeGreaterThan(5);
    expect(expected.length).toBeLessThan(50);
    const box = tid('nodes-selector');
    await box.fill(selector);
    await box.press('Enter');
    const shown = () =>
      page()
        .locator('[data-testid="nodes-row"]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-hostname') ?? '').sort());
    await expect.poll(shown, { timeout: 10_000 }).toEqual(expected);
    await hx().screenshot('nodes-filtered');
  }, 30_000);

  it('a node page shows its GPUs and a utilization chart that moves live', async () => {
    const row = page().locator(`[data-testid="nodes-row"][data-hostname="${FAULT_HOST}"]`);
    await row.first().click();
    await expect.poll(async () => (await tid('node-title').textContent()) ?? '', { timeout: 10_000 }).toContain(FAULT_HOST);
    await expect.poll(() => page().locator('[data-testid="gpu-row"]').count(), { timeout: 10_000 }).toBe(8);
    const points = async () => Number((await attr('[data-testid="node-chart-util"]', 'data-points')) ?? NaN);
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(0);
    const before = await points();
    // Metrics arrive every second: within 8 s the chart must have taken at least two more.
    await expect.poll(points, { timeout: 8000, interval: 250 }).toBeGreaterThanOrEqual(before + 2);
    await hx().screenshot('node');
    expect(await markerKept()).toBe(true);
  }, 30_000);

  it('a fatal XID 79 turns the GPU unhealthy on the open page and raises the alert, without a reload', async () => {
    expect(await attr(gpuRow(FAULT_GPU), 'data-state')).toBe('READY');
    const injected = hx().faults.xid(FAULT_HOST, FAULT_GPU, 79);
    expect(injected.lines.join('\n')).toMatch(/Xid .*79/);
    await expect.poll(() => attr(gpuRow(FAULT_GPU), 'data-state'), { timeout: 10_000 }).toBe('UNHEALTHY');
    await expect.poll(() => attr(gpuRow(FAULT_GPU), 'data-health'), { timeout: 10_000 }).toBe('unhealthy');
    // Only that GPU: its neighbour stays in service.
    expect(await attr(gpuRow(FAULT_GPU - 1), 'data-state')).toBe('READY');
    expect(await markerKept()).toBe(true);
    await hx().screenshot('node-unhealthy-gpu');

    const node = (await hx().server.api('GET', `/api/v1/nodes/${FAULT_HOST}`)).body;
    expect(node.gpus[FAULT_GPU].state).toBe('UNHEALTHY');
    await tid('nav-alerts').click();
    const alertRow = page().locator('[data-testid="alerts-firing-row"][data-rule="GpuUnhealthy"]');
    const alertNodes = () => alertRow.evaluateAll((els) => els.map((e) => e.getAttribute('data-node')));
    await expect.poll(async () => (await alertNodes()).some((n) => n === FAULT_HOST || n === node.id), { timeout: 10_000 }).toBe(true);
    const alerts = (await hx().server.api('GET', '/api/v1/alerts')).body.items as { rule: string; state: string; hostname: string; gpuIndex: number | null }[];
    expect(alerts.some((a) => a.rule === 'GpuUnhealthy' && a.state === 'firing' && a.hostname === FAULT_HOST && a.gpuIndex === FAULT_GPU)).toBe(true);
    expect(await markerKept()).toBe(true);
    await hx().screenshot('alerts');
  }, 40_000);

  it('cordons and uncordons a GPU from its node page, each with a reason, and the API agrees', async () => {
    await openNode(FAULT_HOST);
    const apiGpu = async () =>
      (await hx().server.api('GET', `/api/v1/nodes/${FAULT_HOST}`)).body.gpus[CORDON_GPU] as { state: string; stateChange: { reason: string | null } | null };
    const apiState = async () => (await apiGpu()).state;
    expect(await apiState()).toBe('READY');
    await tid(`gpu-cordon-${CORDON_GPU}`).click();
    // Like every other action, it asks first, with a reason.
    await tid('confirm-dialog').waitFor({ timeout: 5000 });
    await tid('confirm-reason').fill('fan noise, e2e');
    await tid('confirm-ok').click();
    await expect.poll(() => attr(gpuRow(CORDON_GPU), 'data-state'), { timeout: 10_000 }).toBe('CORDONED');
    expect(await apiState()).toBe('CORDONED');
    expect((await apiGpu()).stateChange?.reason).toBe('fan noise, e2e');
    await hx().screenshot('node-gpu-cordoned');
    await tid(`gpu-uncordon-${CORDON_GPU}`).click();
    await tid('confirm-ok').click();
    await expect.poll(() => attr(gpuRow(CORDON_GPU), 'data-state'), { timeout: 10_000 }).toBe('READY');
    expect(await apiState()).toBe('READY');
    // The unhealthy GPU was not touched by either action.
    expect(await attr(gpuRow(FAULT_GPU), 'data-state')).toBe('UNHEALTHY');
  }, 40_000);

  it('creates a join token with labels and shows the join command for it', async () => {
    await tid('nav-tokens').click();
    await tid('tokens-labels').fill('rack=r12,team=ml');
    await tid('tokens-create').click();
    const command = tid('tokens-created-command');
    await command.waitFor({ timeout: 10_000 });
    // The command may sit in a read-only input (easy to copy) or in text.
    const isField = await command.evaluate((e) => e instanceof HTMLInputElement || e instanceof HTMLTextAreaElement);
    const text = isField ? await command.inputValue() : ((await command.textContent()) ?? '');
    const m = text.match(/gpufleet-agent join (gfj1\.[A-Za-z0-9_-]+)/);
    expect(m, `join command shown: ${text}`).not.toBeNull();
    const payload = decodeJoinToken(m![1]!);
    expect(payload.url).toBe(hx().url);
    const tokens = (await hx().server.api('GET', '/api/v1/join-tokens')).body.items as { id: string; labels: Record<string, string> }[];
    const made = tokens.find((t) => t.id === payload.tokenId);
    expect(made, `token ${payload.tokenId} among ${tokens.map((t) => t.id).join(', ')}`).toBeDefined();
    expect(made!.labels).toEqual({ rack: 'r12', team: 'ml' });
    await hx().screenshot('tokens');
  }, 30_000);

  it('the events, runs and audit pages render what happened', async () => {
    await tid('nav-events').click();
    // The fatal XID injected earlier is on the fleet timeline, with its host.
    const eventsText = async () => page().locator('body').innerText();
    await expect
      .poll(
        async () => {
          const t = await eventsText();
          return /xid/i.test(t) && /\b79\b/.test(t) && t.includes(FAULT_HOST);
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    await hx().screenshot('events');

    await tid('nav-runs').click();
    await page().waitForTimeout(500);
    await hx().screenshot('runs');

    const audit = (await hx().server.api('GET', '/api/v1/audit?limit=100')).body.items as { action: string }[];
    expect(audit.some((e) => /cordon/i.test(e.action))).toBe(true);
    await tid('nav-audit').click();
    await expect.poll(async () => /cordon/i.test(await page().locator('body').innerText()), { timeout: 10_000 }).toBe(true);
    await hx().screenshot('audit');
    expect(await markerKept()).toBe(true);
    await expect.poll(async () => (await tid('conn-status').count()) > 0, { timeout: 5000 }).toBe(true);
  }, 30_000);
});
