import { describe, expect, it } from 'vitest';
import type { NodeView } from '@gpufleet/protocol';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * Issue 9's dashboard fixes in a real Chromium against a real server and 6 simulated hosts: the
 * GPUs page, node links by id when two nodes share a hostname, the GPU cordon reason, the
 * overview's "not taking work" count, and an offline node's readings shown as stale. Steps run
 * in order on one page; the last one takes a host offline.
 */

const HOSTS = 6;
let nodes: NodeView[] = [];

const { registerHooks, hx, page, tid, signIn } = dashboardSuite({
  harness: { hosts: HOSTS },
  async setup(harness) {
    nodes = (await harness.server.api('GET', `/api/v1/nodes?limit=${HOSTS}`)).body.items;
    await signIn();
  },
});

const nodeUrl = (id: string) => `/nodes/${encodeURIComponent(id)}`;
const title = async () =>
  (await tid('node-title')
    .textContent()
    .catch(() => '')) ?? '';
const rowsOf = (testId: string) => page().locator(`[data-testid="${testId}"]`);

describe('dashboard fixes of issue 9 (Chromium, real server, 6 simulated hosts)', () => {
  registerHooks();

  it("the GPUs page lists every GPU, sorts on the server and opens a GPU's node by id", async () => {
    const total = (await hx().server.api('GET', '/api/v1/gpus?limit=1')).body.total as number;
    expect(total).toBe(nodes.reduce((n, v) => n + v.gpus.length, 0));
    await tid('nav-gpus').click();
    await expect.poll(() => tid('gpus-total').getAttribute('data-total'), { timeout: 10_000 }).toBe(String(total));
    // Windowed: only what is in view (and a little more) is in the page.
    await expect.poll(() => rowsOf('gpus-row').count()).toBeGreaterThan(0);
    expect(await rowsOf('gpus-row').count()).toBeLessThanOrEqual(Math.min(total, 40));

    await tid('gpus-sort-util').click();
    await expect.poll(() => page().evaluate(() => window.location.search)).toBe('?sort=-util');
    const utils = async () => rowsOf('gpus-row').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-util'))));
    await expect
      .poll(
        async () => {
          const u = await utils();
          return u.length > 5 && u.every((v, i) => i === 0 || v <= u[i - 1]!);
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    await hx().screenshot('gpus-by-util');

    // Filter by a GPU state: cordon one through the API, and it is the only CORDONED row.
    const target = nodes[1]!;
    expect((await hx().server.api('POST', `/api/v1/nodes/${encodeURIComponent(target.id)}/gpus/2/cordon`, { reason: 'gpus page e2e' })).status).toBe(200);
    await tid('gpus-state').selectOption('CORDONED');
    await expect.poll(() => tid('gpus-total').getAttribute('data-total'), { timeout: 10_000 }).toBe('1');
    const only = rowsOf('gpus-row').first();
    expect(await only.getAttribute('data-node-id')).toBe(target.id);
    expect(await only.getAttribute('data-gpu')).toBe('2');
    await only.click();
    await expect.poll(() => page().evaluate(() => window.location.pathname)).toBe(nodeUrl(target.id));
    await expect.poll(title, { timeout: 10_000 }).toContain(target.hostname);
    expect((await hx().server.api('POST', `/api/v1/nodes/${encodeURIComponent(target.id)}/gpus/2/uncordon`, {})).status).toBe(200);
  }, 60_000);

  it('two nodes sharing a hostname each open their own page from the node table', async () => {
    const [a, b] = [nodes[2]!, nodes[3]!];
    const registry = hx().server.server.context.registry;
    // Enrollment keeps hostnames unique; old data can still clash, as this rename does.
    await registry.update(b.id, { hostname: a.hostname }, 'inventory');
    try {
      const clash = await hx().server.api('GET', `/api/v1/nodes/${a.hostname}`);
      expect(clash.status).toBe(409);
      expect(clash.body.error.details.candidates.map((c: { id: string }) => c.id).sort()).toEqual([a.id, b.id].sort());

      await tid('nav-nodes').click();
      await tid('nodes-search').fill(a.hostname);
      const rows = page().locator(`[data-testid="nodes-row"][data-hostname="${a.hostname}"]`);
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
      const opened: string[] = [];
      for (let i = 0; i < 2; i++) {
        await tid('nav-nodes').click();
        await tid('nodes-search').fill(a.hostname);
        await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
        await rows.nth(i).click();
        await expect.poll(title, { timeout: 10_000 }).toContain(a.hostname);
        const path = await page().evaluate(() => window.location.pathname);
        const id = decodeURIComponent(path.replace(/^\/nodes\//, ''));
        // The page shows the node its link named, not whichever has the name.
        await expect.poll(() => page().locator('dl.kv dd.mono').last().textContent(), { timeout: 10_000 }).toBe(id);
        opened.push(id);
      }
      expect(opened.sort()).toEqual([a.id, b.id].sort());
      await hx().screenshot('nodes-shared-hostname');

      // A page opened by the shared hostname lists both nodes, each linked by id, instead of guessing.
      await page().goto(`${hx().url}/nodes/${a.hostname}`);
      await tid('node-conflict').waitFor({ timeout: 10_000 });
      const links = page().locator('[data-testid="node-conflict-link"]');
      expect((await links.evaluateAll((els) => els.map((e) => e.getAttribute('data-node-id')))).sort()).toEqual([a.id, b.id].sort());
      // The browser logs the expected 409 as a failed resource; that one, and only that, is fine here.
      expect(hx().errors.splice(0)).toEqual([expect.stringMatching(/status of 409 \(Conflict\).*\/api\/v1\/nodes\//)]);
      await links.first().click();
      await expect.poll(title, { timeout: 10_000 }).toContain(a.hostname);
    } finally {
      await registry.update(b.id, { hostname: b.hostname }, 'inventory');
    }
  }, 60_000);

  it('the GPU cordon button asks for a reason, which the API keeps', async () => {
    const n = nodes[4]!;
    await page().goto(hx().url + nodeUrl(n.id));
    await expect.poll(title, { timeout: 10_000 }).toContain(n.hostname);
    await tid('gpu-cordon-1').click();
    await tid('confirm-dialog').waitFor({ timeout: 5000 });
    expect(await tid('confirm-dialog').textContent()).toContain(`Cordon GPU 1 of ${n.hostname}?`);
    // Cancel sends nothing.
    await tid('confirm-cancel').click();
    expect((await hx().server.api('GET', `/api/v1/nodes/${encodeURIComponent(n.id)}`)).body.gpus[1].state).toBe('READY');
    await tid('gpu-cordon-1').click();
    await tid('confirm-reason').fill('ECC errors seen in e2e');
    await hx().screenshot('gpu-cordon-reason');
    await tid('confirm-ok').click();
    const row = page().locator('[data-testid="gpu-row"][data-index="1"]');
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 10_000 }).toBe('CORDONED');
    expect(await row.textContent()).toContain('ECC errors seen in e2e');
    const gpu = (await hx().server.api('GET', `/api/v1/nodes/${encodeURIComponent(n.id)}`)).body.gpus[1];
    expect(gpu).toMatchObject({ state: 'CORDONED', stateChange: { reason: 'ECC errors seen in e2e' } });
  }, 40_000);

  it('the overview counts the GPUs of cordoned and drained nodes as not taking work', async () => {
    // One GPU cordoned above, plus every GPU of a cordoned node.
    const cordoned = nodes[0]!;
    expect((await hx().server.api('POST', `/api/v1/nodes/${encodeURIComponent(cordoned.id)}/cordon`, { reason: 'e2e' })).status).toBe(200);
    await tid('nav-overview').click();
    const expected = 1 + cordoned.gpus.length;
    await expect.poll(() => tid('heatmap').getAttribute('data-out-of-service'), { timeout: 15_000 }).toBe(String(expected));
    // The node card counts the nodes themselves.
    await expect.poll(() => tid('overview-not-taking-work').getAttribute('data-count'), { timeout: 15_000 }).toBe('1');
    await expect
      .poll(async () => (await tid('heatmap-summary').textContent()) ?? '')
      .toContain(`Not taking work (GPU or node cordoned, draining, drained or unhealthy): ${expected}`);
    expect((await hx().server.api('POST', `/api/v1/nodes/${encodeURIComponent(cordoned.id)}/uncordon`, {})).status).toBe(200);
  }, 30_000);

  it("an offline node's readings are stale in the node table, on its page and in the heatmap tooltip", async () => {
    const gone = nodes[5]!;
    await hx().fleet.host(gone.hostname).agent.stop();
    await expect
      .poll(async () => (await hx().server.api('GET', `/api/v1/nodes/${encodeURIComponent(gone.id)}`)).body.status, { timeout: 15_000 })
      .toBe('OFFLINE');

    await tid('nav-nodes').click();
    await tid('nodes-search').fill(gone.hostname);
    const row = page().locator(`[data-testid="nodes-row"][data-hostname="${gone.hostname}"]`);
    await expect.poll(() => row.getAttribute('data-stale'), { timeout: 10_000 }).toBe('true');
    expect(await row.locator('[data-testid="nodes-row-last-seen"]').textContent()).toMatch(/^last seen (just now|\d+ s ago)$/);
    expect(await row.locator('[data-testid="nodes-spark-util"]').count()).toBe(0);
    await hx().screenshot('nodes-offline-stale');

    await row.click();
    await expect.poll(title, { timeout: 10_000 }).toContain(gone.hostname);
    await expect
      .poll(
        async () =>
          (await tid('node-stale-note')
            .textContent()
            .catch(() => '')) ?? '',
        { timeout: 10_000 },
      )
      .toMatch(/^Offline: last seen .+\. The readings on this page are from then, not live\.$/);
    const gpuRows = page().locator('[data-testid="gpu-row"]');
    expect(await gpuRows.evaluateAll((els) => els.every((e) => e.getAttribute('data-stale') === 'true' && e.classList.contains('stale')))).toBe(true);
    await hx().screenshot('node-offline-stale');

    // The heatmap's tooltip for one of its GPUs says the readings are stale, and how old.
    await tid('nav-overview').click();
    const canvas = tid('heatmap');
    await canvas.waitFor({ timeout: 10_000 });
    await canvas.focus();
    const tooltip = tid('heatmap-tooltip');
    const cells = nodes.reduce((n, v) => n + v.gpus.length, 0);
    for (let i = 0; i < cells && (await tooltip.getAttribute('data-node')) !== gone.hostname; i++) await page().keyboard.press('ArrowRight');
    expect(await tooltip.getAttribute('data-node')).toBe(gone.hostname);
    await expect.poll(() => tooltip.getAttribute('data-stale'), { timeout: 10_000 }).toBe('true');
    expect(await tooltip.textContent()).toMatch(/(stale|no reading), last seen/);
    expect(await tooltip.textContent()).toContain('node offline');
    await hx().screenshot('heatmap-offline-stale');
  }, 60_000);
});
