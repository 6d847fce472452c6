import { describe, expect, it } from 'vitest';
import type { NodeSparklines, NodeView } from '@gpufleet/protocol';

/** GET /api/v1/nodes. */
type NodeList = { items: NodeView[]; total: number };
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * The node table's sorting and sparklines in a real Chromium against a real control plane and
 * 8 simulated hosts. One GPU of one host is heated to 97 °C through the fault injector, so "the
 * hottest node" is not a coin toss between hosts a degree apart. Screenshots: test-output/web/.
 * Needs packages/web/dist (npm run build -w @gpufleet/web) and /usr/bin/chromium (.ci/run).
 */

const HOSTS = 8;
const HOT_C = 97;

const { registerHooks, hx, page, tid, signIn } = dashboardSuite({ harness: { hosts: HOSTS, seed: 'nodes-table-e2e' } });
const rows = () => page().locator('[data-testid="nodes-row"]');
const shownHosts = () => rows().evaluateAll((els) => els.map((e) => e.getAttribute('data-hostname') ?? ''));

/** A node's hottest GPU reading in a view, or null. */
function hottest(n: NodeView): number | null {
  const temps = n.gpus.map((g) => g.sample?.temperatureC).filter((v): v is number => typeof v === 'number');
  return temps.length ? Math.max(...temps) : null;
}

describe('node table: sorting and sparklines (Chromium, real server, 8 simulated hosts)', () => {
  registerHooks();

  it('signs in and shows every node', async () => {
    await signIn();
    await tid('nav-nodes').click();
    await expect.poll(() => rows().count(), { timeout: 10_000 }).toBe(HOSTS);
  }, 30_000);

  it('sorts by temperature, hottest first, through the column header', async () => {
    const hotHost = (await hx().server.api('GET', `/api/v1/nodes?limit=${HOSTS}`)).body.items[HOSTS - 1].hostname as string;
    hx().faults.thermalRamp(hotHost, 0, { targetC: HOT_C, rampMs: 1 });
    const apiHottest = async () => ((await hx().server.api('GET', '/api/v1/nodes?sort=-temp&limit=1')).body as NodeList).items[0]!.hostname;
    await expect.poll(apiHottest, { timeout: 10_000 }).toBe(hotHost);

    const header = tid('nodes-sort-temp');
    const columnheader = page().getByRole('columnheader', { name: /Temp/ });
    expect(await columnheader.getAttribute('aria-sort')).toBe('none');
    const answer = page().waitForResponse((r) => r.url().includes('/api/v1/nodes?') && r.url().includes('sort=-temp'));
    // Keyboard: the header is a button, reachable and pressed like one.
    await header.focus();
    await page().keyboard.press('Enter');
    const list = (await (await answer).json()) as NodeList;
    expect(await columnheader.getAttribute('aria-sort')).toBe('descending');
    expect(new URL(page().url()).searchParams.get('sort')).toBe('-temp');

    // The page shows the order the server sent, and that order is hottest first.
    await expect.poll(shownHosts, { timeout: 10_000 }).toEqual(list.items.map((n) => n.hostname));
    const temps = list.items.map(hottest);
    expect(temps.every((t) => t !== null)).toBe(true);
    expect([...temps].sort((a, b) => b! - a!)).toEqual(temps);
    // The first row is the hottest node per the API.
    expect(await rows().first().getAttribute('data-hostname')).toBe(await apiHottest());

    // A second click flips it: the hot node goes to the bottom.
    await header.click();
    expect(await columnheader.getAttribute('aria-sort')).toBe('ascending');
    await expect.poll(async () => (await shownHosts()).at(-1), { timeout: 10_000 }).toBe(hotHost);
    await header.click();
    await expect.poll(async () => (await shownHosts())[0], { timeout: 10_000 }).toBe(hotHost);
  }, 40_000);

  it('draws utilization and temperature sparklines for the rows on screen', async () => {
    const counts = (kind: 'util' | 'temp') =>
      page()
        .locator(`[data-testid="nodes-row"] [data-testid="nodes-spark-${kind}"]`)
        .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-count'))));
    await expect.poll(async () => (await counts('util')).length, { timeout: 10_000 }).toBe(HOSTS);
    await expect.poll(async () => (await counts('temp')).filter((c) => c > 0).length, { timeout: 10_000 }).toBe(HOSTS);
    expect((await counts('util')).every((c) => c > 0)).toBe(true);

    // The hot row's line has as many readings as the API's series for it, and says so in words.
    const first = rows().first();
    const host = await first.getAttribute('data-hostname');
    const node = (await hx().server.api('GET', `/api/v1/nodes/${host}`)).body as NodeView;
    const spark = (await hx().server.api('GET', `/api/v1/sparklines?ids=${node.id}`)).body as NodeSparklines;
    const apiCount = spark.items[0]!.temp.filter((v) => v !== null).length;
    const shownCount = Number(await first.getByTestId('nodes-spark-temp').getAttribute('data-count'));
    // The page fetched a moment before this call: a new 30 s bucket may have begun in between.
    expect(apiCount - shownCount).toBeGreaterThanOrEqual(0);
    expect(apiCount - shownCount).toBeLessThanOrEqual(1);
    const label = (await first.getByTestId('nodes-spark-temp').getAttribute('aria-label')) ?? '';
    expect(label).toMatch(/^Hottest GPU temperature, last 15 minutes: min \d+ °C, max \d+ °C, last \d+ °C$/);
    expect(await first.locator('[data-testid="nodes-spark-temp"] circle.sparkline-last').count()).toBe(1);
    await hx().screenshot('nodes-sorted-sparklines');
  }, 30_000);

  it('keeps the sort in the URL across a reload', async () => {
    await page().reload();
    await expect.poll(() => rows().count(), { timeout: 10_000 }).toBe(HOSTS);
    expect(await page().getByRole('columnheader', { name: /Temp/ }).getAttribute('aria-sort')).toBe('descending');
  }, 30_000);

  it('hides the sparklines on a 390 px screen', async () => {
    await page().setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => rows().count(), { timeout: 10_000 }).toBe(HOSTS);
    const visibleSparks = await page()
      .locator('[data-testid="nodes-spark-util"]')
      .evaluateAll((els) => els.filter((e) => (e as SVGElement).getBoundingClientRect().width > 0).length);
    expect(visibleSparks).toBe(0);
    // The header still sorts there.
    expect(await tid('nodes-sort-util').isVisible()).toBe(true);
    await hx().screenshot('nodes-sorted-390');
    await page().setViewportSize({ width: 1280, height: 1000 });
  }, 30_000);

  it('draws the sparklines in the dark theme with its own colours', async () => {
    const stroke = () =>
      page()
        .locator('[data-testid="nodes-spark-temp"] circle.sparkline-last')
        .first()
        .evaluate((e) => getComputedStyle(e).fill);
    const light = await stroke();
    await tid('theme-toggle').click();
    await expect.poll(() => page().evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    expect(await stroke()).not.toBe(light);
    await hx().screenshot('nodes-sorted-dark');
    await tid('theme-toggle').click();
  }, 30_000);
});
