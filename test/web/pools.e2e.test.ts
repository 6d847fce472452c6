import { describe, expect, it } from 'vitest';
import { simProviderFactory } from '@gpufleet/sim';
import { auditPage, auditReport } from '../../packages/web/e2e/page-audit.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';
import { waitFor } from '../e2e/support/wait-for.js';

/*
 * Pools in the dashboard, end to end: a real control plane with the sim provider, a pools file
 * applied over REST whose pool of simulated hosts really boots and enrolls through minted join
 * tokens, and a real Chromium under the dashboard's CSP. The list shows the pool at its floor;
 * the pool page shows its members, size and decisions; an admin's Scale to… refuses garbage and
 * sizes outside min..max, then grows the pool (the provision's stages show while it runs); a
 * member's Replace provisions first and terminates the old node after. Screenshots:
 * test-output/web/pools-*.
 */

const POOL = 'e2e';
const POOLS_FILE = `providers:
  sim:
    type: sim
    instance_types:
      sim.h100x2: { gpu_model: H100, gpus: 2, price_per_hour: 4.25 }
    boot: 3s
pools:
  ${POOL}:
    provider: sim
    instance_type: sim.h100x2
    zones: [sim-a, sim-b]
    min_nodes: 2
    max_nodes: 4
    cooldown: 0s
    labels: { team: e2e }
    health: { replace_after: 1m, max_parallel_replacements: 1, max_unavailable: 50% }
`;

interface PoolRow {
  ready: number;
  desired: number;
  inFlight: number;
}

const { registerHooks, hx, page, tid, text, signIn } = dashboardSuite({
  harness: { hosts: 1, providers: { sim: simProviderFactory } },
  async setup(harness) {
    await harness.page.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)),
    );
    const applied = await harness.server.api('POST', '/api/v1/pools/apply', { source: POOLS_FILE, filename: 'pools.yaml' });
    if (applied.status !== 200) throw new Error(`applying the pools file failed: HTTP ${applied.status} ${applied.text}`);
    // The pool comes up to its floor by itself: two sim hosts boot and enroll.
    await waitFor(
      'the pool at its floor of 2 READY nodes',
      async () => {
        const r = await harness.server.api('GET', `/api/v1/pools/${POOL}`);
        return r.status === 200 && r.body.ready === 2 && r.body.inFlight === 0;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  },
});

/** The pool's row on /pools as the page shows it. */
async function listRow(): Promise<PoolRow> {
  const row = page().locator(`[data-testid="pools-row"][data-name="${POOL}"]`);
  return {
    ready: Number(await row.getAttribute('data-ready')),
    desired: Number(await row.getAttribute('data-desired')),
    inFlight: Number(await row.getAttribute('data-in-flight')),
  };
}

/** data-state of each member row, by instance. */
const memberStates = () =>
  page()
    .locator('[data-testid="pool-member"]')
    .evaluateAll((rows) => Object.fromEntries(rows.map((r) => [r.getAttribute('data-instance'), r.getAttribute('data-state')])));

const eventKinds = () =>
  page()
    .locator('[data-testid="pool-event"]')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind')));

describe('Pools in the dashboard (Chromium, real server, a pool of sim hosts)', () => {
  registerHooks();

  it('the Pools page lists the pool at its floor: ready/desired with min..max, GPUs and cost', async () => {
    await signIn();
    await tid('nav-pools').click();
    await page().locator(`[data-testid="pools-row"][data-name="${POOL}"]`).waitFor({ timeout: 15_000 });
    await expect.poll(listRow, { timeout: 15_000 }).toEqual({ ready: 2, desired: 2, inFlight: 0 });
    const cells = await page().locator(`[data-testid="pools-row"][data-name="${POOL}"] td`).allTextContents();
    expect(cells).toEqual([POOL, 'sim (sim, sim.h100x2)', '2/2 (2..4)', '4', '0%', '$8.50/h', '0']);
    await hx().screenshot('pools-list');
  }, 45_000);

  it('the pool page shows why it has the size it has, its members with their nodes, its size over time and its decisions', async () => {
    await page().locator(`[data-testid="pools-row"][data-name="${POOL}"] a`).click();
    await tid('pool-title').waitFor();
    expect(await tid('pool-desired-why').getAttribute('data-source')).toBe('min');
    expect(await text('pool-desired-why')).toBe("2: the pool's floor (min_nodes 2)");
    expect(await text('pool-cost')).toBe('$8.50/h');
    await expect.poll(() => page().locator('[data-testid="pool-member"][data-state="active"]').count(), { timeout: 10_000 }).toBe(2);
    const health = await page()
      .locator('[data-testid="pool-member"]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-health')));
    expect(health.every((h) => h === 'healthy' || h === 'unknown')).toBe(true);
    expect(Number(await tid('pool-size-chart').getAttribute('data-points'))).toBeGreaterThanOrEqual(1);
    await expect.poll(eventKinds, { timeout: 10_000 }).toEqual(expect.arrayContaining(['applied', 'provision-started', 'joined']));
    // The first member's node link opens its node page.
    const link = page().locator('[data-testid="pool-member"] [data-testid="pool-member-node"]').first();
    const hostname = (await link.textContent())!.trim();
    await link.click();
    await page().waitForURL(/\/nodes\/did%3Akey%3A/);
    await expect.poll(() => text('node-title'), { timeout: 10_000 }).toBe(hostname);
    await page().goBack();
    await tid('pool-title').waitFor();
    await hx().screenshot('pools-detail');
  }, 45_000);

  it('Scale to… refuses garbage and a size outside min..max with the range, then grows the pool with its provision shown in stages', async () => {
    await tid('pool-scale').click();
    await tid('scale-dialog').waitFor();
    await tid('scale-reason').fill('e2e wants three');
    for (const [input, message] of [
      ['lots', 'Nodes: "lots" is not a whole number of nodes'],
      ['2.5', 'Nodes: "2.5" is not a whole number of nodes'],
      ['9', "Nodes: must be between 2 and 4 (the pool's min..max)"],
    ] as const) {
      await tid('scale-to').fill(input);
      await tid('scale-ok').click();
      expect(await text('scale-to-error')).toBe(message);
    }
    await hx().screenshot('pools-scale-refused');
    await tid('scale-to').fill('3');
    await tid('scale-ok').click();
    await tid('scale-dialog').waitFor({ state: 'detached' });
    await expect.poll(() => text('pool-desired-why'), { timeout: 10_000 }).toBe('3: set by an operator: e2e wants three');

    // The host boots for 3 s: the provision shows its stage as steps meanwhile.
    const op = page().locator('[data-testid="pool-ops-in-flight"] [data-testid="pool-op"][data-kind="provision"]').first();
    await op.waitFor({ timeout: 10_000 });
    const current = await op.locator('[data-testid="op-step"][data-state="current"]').getAttribute('data-stage');
    expect(['requested', 'provisioning', 'joining']).toContain(current);
    expect(await op.locator('[data-testid="op-step"]').evaluateAll((s) => s.map((x) => x.getAttribute('data-stage')))).toEqual([
      'requested',
      'provisioning',
      'joining',
      'done',
    ]);
    await hx().screenshot('pools-provisioning');
    await expect.poll(() => tid('pool-size').getAttribute('data-ready'), { timeout: 30_000 }).toBe('3');
    await expect.poll(() => page().locator('[data-testid="pool-ops-in-flight"]').count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(eventKinds, { timeout: 10_000 }).toContain('manual-scale');
  }, 60_000);

  it('Replace on a member provisions a new one first, then terminates the old node', async () => {
    const before = await memberStates();
    const victim = page().locator('[data-testid="pool-member"][data-state="active"]').first();
    const instance = (await victim.getAttribute('data-instance'))!;
    await victim.getByTestId('pool-member-replace').click();
    await tid('confirm-reason').fill('e2e replace');
    await tid('confirm-ok').click();
    const op = page().locator('[data-testid="pool-op"][data-kind="replace"]').first();
    await op.waitFor({ timeout: 10_000 });
    expect(await op.locator('[data-testid="op-step"]').evaluateAll((s) => s.map((x) => x.getAttribute('data-stage')))).toEqual([
      'requested',
      'provisioning',
      'joining',
      'draining',
      'terminating',
      'done',
    ]);
    await expect.poll(() => page().locator(`[data-testid="pool-member"][data-instance="${instance}"] [data-testid="pool-member-replacing"]`).count()).toBe(1);
    await hx().screenshot('pools-replacing');
    // Provision first: the old member is still there, not terminated, while its replacement comes up.
    const states = await memberStates();
    expect(states[instance]).not.toBe('terminated');
    await expect
      .poll(async () => Object.entries(await memberStates()).filter(([id, s]) => s === 'active' && !(id in before)).length, { timeout: 45_000 })
      .toBeGreaterThanOrEqual(1);
    await expect.poll(async () => (await memberStates())[instance] ?? 'gone', { timeout: 45_000 }).toMatch(/^(terminated|gone)$/);
    await expect.poll(eventKinds, { timeout: 10_000 }).toContain('replace-done');
    await expect.poll(() => tid('pool-size').getAttribute('data-ready'), { timeout: 10_000 }).toBe('3');
    await hx().screenshot('pools-replaced');
  }, 120_000);

  it('the pool pages meet AA contrast, name every control and fit a 390 px phone, in both themes', async () => {
    const failures: string[] = [];
    for (const path of ['/pools', `/pools/${POOL}`]) {
      for (const theme of ['light', 'dark'] as const) {
        await page().goto(`${hx().url}${path}`);
        await tid('nav-overview').waitFor({ timeout: 15_000 });
        await page().locator('main h1').first().waitFor();
        await page()
          .waitForLoadState('networkidle')
          .catch(() => undefined);
        if ((await page().evaluate(() => document.documentElement.dataset.theme)) !== theme) await tid('theme-toggle').click();
        const a = await auditPage(page());
        if (a.contrast.length > 0 || a.unnamed.length > 0) failures.push(auditReport(`${path} (${theme})`, a));
      }
      // Turned to a phone's width in place: the chart redraws to fit (it follows its box).
      await page().setViewportSize({ width: 390, height: 844 });
      let overflow = 0;
      await expect
        .poll(async () => (overflow = (await auditPage(page())).overflowX), { timeout: 3000 })
        .toBe(0)
        .catch(() => undefined);
      if (overflow > 0) failures.push(`${path}: ${overflow}px wider than a 390 px screen`);
      await hx().screenshot(`pools-390${path.replace(/\//g, '-')}`);
      await page().setViewportSize({ width: 1280, height: 1000 });
    }
    expect(failures, failures.join('\n')).toEqual([]);
  }, 60_000);

  it('a viewer reads the pool but gets neither Scale to… nor Replace', async () => {
    const made = await hx().server.api('POST', '/api/v1/api-tokens', { name: 'pools-viewer', role: 'viewer' });
    expect(made.status).toBe(201);
    await tid('signout').click();
    await signIn(made.body.token);
    await page().goto(`${hx().url}/pools/${POOL}`);
    await expect.poll(() => page().locator('[data-testid="pool-member"]').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await tid('pool-scale').count()).toBe(0);
    expect(await tid('pool-member-replace').count()).toBe(0);
  }, 30_000);
});
