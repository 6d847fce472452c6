import { describe, expect, it } from 'vitest';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * The fleet stream in a real Chromium against a real control plane and 3 simulated hosts
 * reporting every second: readings move on the nodes table and the heatmap through small deltas,
 * a label change comes as the node's full view. A probe installed before the page's scripts
 * records what each `nodes` event carried. Screenshots: test-output/web/.
 */

const HOSTS = 3;

/** Counts each `nodes` event's full views (by hostname) and deltas as the page receives them. */
const PROBE = `(() => {
  const seen = (window.__fleet = []);
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, listener, options) {
    if (type !== 'nodes' || typeof listener !== 'function') return add.call(this, type, listener, options);
    return add.call(this, type, function (ev) {
      try {
        const d = JSON.parse(ev.data);
        seen.push({ items: d.items.map((v) => v.hostname), deltas: d.deltas.length, bytes: ev.data.length });
      } catch (e) {
        seen.push({ error: String(e) });
      }
      return listener.call(this, ev);
    }, options);
  };
})();`;

type Seen = { items: string[]; deltas: number; bytes: number };

const { registerHooks, hx, page, tid, signIn } = dashboardSuite({
  harness: { hosts: HOSTS },
  setup: async (h) => {
    await h.page.addInitScript({ content: PROBE });
    await signIn();
  },
});
const seen = () => page().evaluate('window.__fleet') as Promise<Seen[]>;

describe('dashboard fleet stream', () => {
  registerHooks();

  it('moves the nodes table readings live through deltas, not full views', async () => {
    await page().goto(`${hx().url}/nodes`);
    const rows = tid('nodes-row');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(HOSTS);
    // The mean utilization column of each row. The page also refetches the list every 30 s, so a
    // change counts only when no refetch of the list came before it: then it came over the stream.
    // (A loaded machine can take well over 15 s to move a rounded reading; the window is longer.)
    const refetches: string[] = [];
    const onRequest = (r: { url(): string }) => {
      const url = new URL(r.url());
      // The pending-approval box polls its own PENDING list; only the table's list counts.
      if (url.pathname === '/api/v1/nodes' && url.searchParams.get('status') !== 'PENDING') refetches.push(r.url());
    };
    page().on('request', onRequest);
    const utils = () => page().locator('[data-testid="nodes-row"] > span:nth-child(6) > span').allTextContents();
    const before = await utils();
    const from = (await seen()).length;
    await expect
      .poll(
        async () => {
          if ((await utils()).join('|') === before.join('|')) return 'unchanged';
          return refetches.length === 0 ? 'changed over the stream' : 'changed after a refetch';
        },
        { timeout: 28_000 },
      )
      .toBe('changed over the stream');
    page().off('request', onRequest);
    const during = (await seen()).slice(from);
    expect(during.every((e) => !('error' in e))).toBe(true);
    expect(during.reduce((n, e) => n + e.deltas, 0)).toBeGreaterThan(0);
    // Readings alone never cost a full view.
    expect(during.filter((e) => e.deltas > 0 && e.items.length === 0).length).toBeGreaterThan(0);
    await hx().screenshot('fleet-stream-nodes');
  }, 45_000);

  it('updates the heatmap cell under the mouse as its readings move', async () => {
    await page().goto(`${hx().url}/`);
    const canvas = tid('heatmap');
    await canvas.waitFor();
    const box = (await canvas.boundingBox())!;
    const size = Number(await canvas.getAttribute('data-cell'));
    await page().mouse.move(box.x + size / 2, box.y + size / 2);
    const tip = tid('heatmap-tooltip');
    await tip.waitFor({ state: 'visible' });
    const first = (await tip.textContent()) ?? '';
    expect(first).toMatch(/util \d+%/);
    await expect.poll(async () => (await tip.textContent()) ?? '', { timeout: 15_000 }).not.toBe(first);
    await hx().screenshot('fleet-stream-heatmap');
  }, 30_000);

  it('sends a label change as the node full view', async () => {
    const host = ((await hx().server.api('GET', '/api/v1/nodes?limit=1')).body.items[0] as { hostname: string }).hostname;
    const from = (await seen()).length;
    expect((await hx().server.api('PATCH', `/api/v1/nodes/${host}/labels`, { set: { stream: 'e2e' } })).status).toBe(200);
    await expect.poll(async () => (await seen()).slice(from).some((e) => e.items.includes(host)), { timeout: 10_000 }).toBe(true);
  }, 20_000);
});
