import { describe, expect, it } from 'vitest';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * The overview heatmap in a real Chromium against a real control plane and 6 simulated hosts
 * (48 GPUs). The heatmap is a canvas, so the test reads what it drew: the counts it marks on the
 * canvas after painting, the tooltip under the mouse at each cell's computed position, and the
 * canvas pixels of a cell's ring. Screenshots: test-output/web/.
 */

const HOSTS = 6;
const GPUS = 8;

const { registerHooks, hx, page, tid, signIn } = dashboardSuite({ harness: { hosts: HOSTS }, setup: () => signIn() });
const canvas = () => tid('heatmap');

/** Hostnames in the heatmap's documented order: hostname, numbers compared as numbers. */
async function hostOrder(): Promise<string[]> {
  const items = (await hx().server.api('GET', '/api/v1/nodes?limit=100')).body.items as { hostname: string }[];
  return items.map((n) => n.hostname).sort(new Intl.Collator('en', { numeric: true }).compare);
}

/** Viewport coordinates of cell i's top-left corner and its size, from the grid the canvas reports. */
async function cellBox(i: number): Promise<{ x: number; y: number; size: number }> {
  const c = canvas();
  const [cols, pitch, size] = await Promise.all(['data-cols', 'data-pitch', 'data-cell'].map(async (a) => Number(await c.getAttribute(a))));
  const box = (await c.boundingBox())!;
  return { x: box.x + (i % cols!) * pitch!, y: box.y + Math.floor(i / cols!) * pitch!, size: size! };
}

async function hover(i: number): Promise<{ node: string | null; gpu: string | null; health: string | null; text: string }> {
  // On a phone the navigation wraps over several lines and can push the heatmap below the fold: the mouse only reaches what is on screen.
  await canvas().scrollIntoViewIfNeeded();
  const b = await cellBox(i);
  await page().mouse.move(b.x + b.size / 2, b.y + b.size / 2);
  const tip = tid('heatmap-tooltip');
  await tip.waitFor({ state: 'visible' });
  return {
    node: await tip.getAttribute('data-node'),
    gpu: await tip.getAttribute('data-gpu'),
    health: await tip.getAttribute('data-health'),
    text: (await tip.textContent()) ?? '',
  };
}

/** The canvas pixel (r, g, b) at a viewport point. */
async function pixel(x: number, y: number): Promise<[number, number, number]> {
  return canvas().evaluate(
    (el, [px, py]) => {
      const c = el as HTMLCanvasElement;
      const r = c.getBoundingClientRect();
      const scale = c.width / r.width;
      const d = c.getContext('2d')!.getImageData(Math.floor((px! - r.left) * scale), Math.floor((py! - r.top) * scale), 1, 1).data;
      return [d[0]!, d[1]!, d[2]!] as [number, number, number];
    },
    [x, y],
  );
}

/** A CSS colour variable of the page's current theme as (r, g, b). */
async function cssColor(name: string): Promise<[number, number, number]> {
  return page().evaluate((n) => {
    const probe = document.createElement('span');
    probe.style.color = `var(${n})`;
    document.body.append(probe);
    const m = getComputedStyle(probe).color.match(/\d+/g)!.map(Number);
    probe.remove();
    return [m[0]!, m[1]!, m[2]!] as [number, number, number];
  }, name);
}

describe(`overview heatmap end to end (Chromium, ${HOSTS} simulated hosts)`, () => {
  registerHooks();

  it('draws one cell per GPU and marks the counts it drew on the canvas', async () => {
    await expect.poll(() => canvas().getAttribute('data-drawn-cells'), { timeout: 10_000 }).toBe(String(HOSTS * GPUS));
    expect(await canvas().getAttribute('data-nodes')).toBe(String(HOSTS));
    expect(await canvas().getAttribute('data-unhealthy')).toBe('0');
    await expect.poll(async () => (await tid('heatmap-summary').textContent()) ?? '', { timeout: 10_000 }).toContain(`${HOSTS * GPUS} GPUs on ${HOSTS} nodes`);
    await hx().screenshot('overview-heatmap');
  }, 30_000);

  it('shows the right GPU under the mouse at every cell, in hostname then GPU order', async () => {
    const hosts = await hostOrder();
    await canvas().scrollIntoViewIfNeeded();
    for (let i = 0; i < HOSTS * GPUS; i++) {
      const t = await hover(i);
      expect(`${t.node}/${t.gpu}`, `cell ${i}`).toBe(`${hosts[Math.floor(i / GPUS)]}/${i % GPUS}`);
      expect(t.text).toMatch(/util \d+% · \d+ °C · \d+ W/);
    }
    await page().mouse.move(0, 0);
    await expect.poll(() => tid('heatmap-tooltip').isHidden()).toBe(true);
  }, 60_000);

  it('a fatal XID rings that GPU in the unhealthy colour, live, and lists it under needs attention', async () => {
    const hosts = await hostOrder();
    const host = hosts[2]!;
    const gpu = 5;
    const i = 2 * GPUS + gpu;
    hx().faults.xid(host, gpu, 79);
    await expect.poll(() => canvas().getAttribute('data-unhealthy'), { timeout: 15_000 }).toBe('1');
    const link = page().locator(`[data-testid="heatmap-attention-link"][data-node="${host}"][data-gpu="${gpu}"]`);
    await link.waitFor({ timeout: 10_000 });
    expect(await link.getAttribute('data-health')).toBe('unhealthy');
    expect((await hover(i)).health).toBe('unhealthy');
    await page().mouse.move(0, 0);

    const ring = await cssColor('--outline-unhealthy');
    const b = await cellBox(i);
    expect(await pixel(b.x + 1, b.y + b.size / 2)).toEqual(ring);
    expect(await pixel(b.x + b.size / 2, b.y + b.size / 2)).not.toEqual(ring);
    const neighbour = await cellBox(i - 1);
    expect(await pixel(neighbour.x + 1, neighbour.y + neighbour.size / 2)).not.toEqual(ring);
    await hx().screenshot('overview-heatmap-unhealthy');

    // The dark theme repaints the ring in its own colour.
    await tid('theme-toggle').click();
    const darkRing = await cssColor('--outline-unhealthy');
    expect(darkRing).not.toEqual(ring);
    await expect.poll(() => pixel(b.x + 1, b.y + b.size / 2)).toEqual(darkRing);
    await hx().screenshot('overview-heatmap-dark');
    await tid('theme-toggle').click();

    await page().mouse.click(b.x + b.size / 2, b.y + b.size / 2);
    await expect
      .poll(
        async () =>
          (await tid('node-title')
            .textContent()
            .catch(() => '')) ?? '',
        { timeout: 10_000 },
      )
      .toContain(host);
  }, 60_000);

  it('is reachable by keyboard: arrows move between GPUs, the focused one is described, Enter opens its node', async () => {
    const hosts = await hostOrder();
    await tid('nav-overview').click();
    await expect.poll(() => canvas().getAttribute('data-drawn-cells'), { timeout: 10_000 }).toBe(String(HOSTS * GPUS));
    await canvas().focus();
    const spoken = tid('heatmap-focus-text');
    await expect.poll(async () => (await spoken.textContent()) ?? '').toContain(`${hosts[0]} · GPU 0`);
    await page().keyboard.press('ArrowRight');
    await page().keyboard.press('ArrowRight');
    await expect.poll(async () => (await spoken.textContent()) ?? '').toContain(`${hosts[0]} · GPU 2`);
    // End goes to the end of the row (all 48 cells fit one row at 1280 px).
    const cols = Number(await canvas().getAttribute('data-cols'));
    await page().keyboard.press('End');
    const target = Math.min(cols, HOSTS * GPUS) - 1;
    await expect.poll(async () => (await spoken.textContent()) ?? '').toContain(`${hosts[Math.floor(target / GPUS)]} · GPU ${target % GPUS}`);
    expect(await tid('heatmap-tooltip').getAttribute('data-node')).toBe(hosts[Math.floor(target / GPUS)]);
    await hx().screenshot('overview-heatmap-keyboard');
    await page().keyboard.press('Enter');
    await expect
      .poll(
        async () =>
          (await tid('node-title')
            .textContent()
            .catch(() => '')) ?? '',
        { timeout: 10_000 },
      )
      .toContain(hosts[Math.floor(target / GPUS)]!);
  }, 30_000);

  it('fits a 390 px wide screen', async () => {
    await page().setViewportSize({ width: 390, height: 844 });
    await page().goto(`${hx().url}/`);
    await expect.poll(() => canvas().getAttribute('data-drawn-cells'), { timeout: 10_000 }).toBe(String(HOSTS * GPUS));
    const box = (await canvas().boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    const t = await hover(HOSTS * GPUS - 1);
    expect(t.node).toBe((await hostOrder())[HOSTS - 1]);
    await hx().screenshot('overview-heatmap-narrow');
    await page().setViewportSize({ width: 1280, height: 1000 });
  }, 30_000);
});
