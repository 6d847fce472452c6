import { describe, expect, it } from 'vitest';
import { auditFocus, auditPage, auditReport, type PageAudit } from '../../packages/web/e2e/page-audit.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * The quality bar, measured in a real Chromium on every page: text contrast at WCAG AA in
 * the light and the dark theme, a name on every control (what a screen reader and keyboard users
 * go by), and no sideways scrolling on a 390 px phone. It audits what the browser renders
 * (computed colours over the real backgrounds), not the stylesheet.
 */

const PAGES = [
  '/',
  '/nodes',
  '/gpus',
  '/jobs',
  '/jobs/new',
  '/pools',
  '/plays',
  '/plays/new',
  '/groups',
  '/ssh-hosts',
  '/ssh-hosts/add',
  '/rollouts',
  '/nodes/HOST',
  '/alerts',
  '/alerts?tab=history',
  '/events',
  '/runs',
  '/runs/new',
  '/keys',
  '/tokens',
  '/api-tokens',
  '/audit',
];

/** A real hostname of the simulated fleet, for the node page. */
let host = '';

const { registerHooks, hx, signIn } = dashboardSuite({
  harness: { hosts: 6 },
  async setup(harness) {
    host = (await harness.server.api('GET', '/api/v1/nodes?limit=1')).body.items[0].hostname;
    await signIn();
  },
});

async function visit(path: string): Promise<void> {
  const page = hx().page;
  await page.goto(hx().url + path.replace('HOST', host));
  await page.getByTestId('nav-overview').waitFor({ timeout: 15_000 });
  // Let queries settle: loading states are audited too, but the page's content is what matters.
  await page.waitForLoadState('networkidle').catch(() => undefined);
  await page.waitForTimeout(300);
}

async function setTheme(theme: 'light' | 'dark'): Promise<void> {
  const page = hx().page;
  if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== theme) await page.getByTestId('theme-toggle').click();
  await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
}

describe('accessibility of every page (Chromium, real server, 6 simulated hosts)', () => {
  registerHooks();

  it('the audit itself catches low contrast, an unnamed control and a page wider than the screen', async () => {
    const probe = await hx().context.newPage();
    try {
      await probe.setContent(`<body style="background:#fff;margin:0">
        <p style="color:#999">grey on white is 2.8:1</p>
        <p style="color:#595959">dark grey on white is 7:1</p>
        <h1 style="color:#888;font-size:30px">large text needs only 3:1</h1>
        <div style="background:rgba(0,0,0,0.5)"><span style="color:#555">dark on a half-black veil</span></div>
        <button><svg width="10" height="10"></svg></button>
        <button aria-label="Close">x</button>
        <input id="n"><label for="n">Name</label>
        <button style="outline:none">Bare</button>
        <div style="width:2000px;height:1px"></div>
      </body>`);
      const a = await auditPage(probe);
      expect(a.contrast.map((c) => c.text).sort()).toEqual(['dark on a half-black veil', 'grey on white is 2.8:1']);
      expect(a.contrast.find((c) => c.text.startsWith('grey'))?.ratio).toBeCloseTo(2.85, 1);
      expect(a.unnamed).toHaveLength(1);
      expect(a.unnamed[0]!.html).toContain('<svg');
      expect(a.overflowX).toBeGreaterThan(500);
      const f = await auditFocus(probe);
      expect(f.reached).toBe(4);
      expect(f.invisible).toEqual(['button "Bare"']);
    } finally {
      await probe.close();
    }
  });

  it('the sign-in page meets AA contrast and names its controls', async () => {
    const { context, url } = hx();
    const fresh = await context.newPage();
    try {
      await fresh.goto(`${url}/`);
      await fresh.getByTestId('signin-token').waitFor();
      const a = await auditPage(fresh);
      expect(a.checked).toBeGreaterThan(0);
      expect(a.contrast.length + a.unnamed.length, auditReport('sign-in', a)).toBe(0);
    } finally {
      await fresh.close();
    }
  });

  for (const theme of ['light', 'dark'] as const) {
    it(`every page meets WCAG AA text contrast and names every control (${theme} theme, 1280 px)`, async () => {
      const failures: string[] = [];
      let checked = 0;
      for (const path of PAGES) {
        await visit(path);
        await setTheme(theme);
        const a: PageAudit = await auditPage(hx().page);
        checked += a.checked;
        if (a.contrast.length > 0 || a.unnamed.length > 0) failures.push(auditReport(`${path} (${theme})`, a));
      }
      // An audit that finds no text at all would pass anything.
      expect(checked).toBeGreaterThan(PAGES.length * 5);
      expect(failures, failures.join('\n')).toEqual([]);
      hx().assertNoBrowserErrors();
    }, 120_000);
  }

  it('the keyboard reaches the controls of every page, and the focus is always visible', async () => {
    const problems: string[] = [];
    for (const path of PAGES) {
      await visit(path);
      const f = await auditFocus(hx().page, 40);
      // The skip link, the navigation and the page's own controls: a page the Tab key cannot enter is broken.
      if (f.reached < 8) problems.push(`${path}: Tab reached only ${f.reached} element(s)`);
      if (f.invisible.length > 0) problems.push(`${path}: focus not visible on ${f.invisible.join(', ')}`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
    hx().assertNoBrowserErrors();
  }, 120_000);

  it('no page scrolls sideways on a 390 px phone', async () => {
    const page = hx().page;
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const wide: string[] = [];
      for (const path of PAGES) {
        await visit(path);
        const a = await auditPage(page);
        if (a.overflowX > 0) wide.push(`${path}: ${a.overflowX}px wider than the screen`);
      }
      expect(wide, wide.join('\n')).toEqual([]);
      hx().assertNoBrowserErrors();
    } finally {
      await page.setViewportSize({ width: 1280, height: 1000 });
    }
  }, 120_000);
});
