import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateEd25519, signRollout, type RolloutDetail } from '@gpufleet/protocol';
import { MASTER_KEY, startReleaseKit } from '../../packages/server/src/releases/__tests__/release-kit.js';
import { auditPage, auditReport } from '../../packages/web/e2e/page-audit.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * Rollouts in the dashboard, end to end: a real control plane with a release repository (keys
 * uploaded, agent 0.3.0 published as `releases publish` makes it), three simulated hosts running
 * the real agent (the simulator answers update frames: verifying, installing, a restart into
 * 0.3.0, healthy), and a real Chromium. A rollout signed by the fleet root is started through the
 * REST API; the canary host turns healthy and its step waits out an hour of healthy-for, so the
 * rollout stays running until the operator acts. The operator sees it on the list, opens it, pauses it with the button (the
 * server says paused), resumes it and aborts it with "roll back hosts" (the canary host is told
 * to go back and says it did). A viewer gets no button. Screenshots: test-output/web/rollouts-*.
 */

const HOSTS = 3;
const VERSION = '0.3.0';
/** What the simulated hosts run before the rollout (the harness's agentVersion). */
const BEFORE = 'web-e2e';
const HOUR = 3_600_000;

const root = generateEd25519();
let operatorToken = '';
let viewerToken = '';
let rolloutId = '';

const { registerHooks, hx, page, tid, text, signIn } = dashboardSuite({
  harness: { hosts: HOSTS, fleetRoot: root.did, masterKey: MASTER_KEY },
  async setup(harness) {
    const api = harness.server.api;
    // The release repository as `releases keys init|upload` and `releases publish` leave it.
    const kit = await startReleaseKit();
    try {
      const keys = await api('POST', '/api/v1/releases/keys', kit.uploadRequest());
      if (keys.status !== 201) throw new Error(`uploading the release keys failed: HTTP ${keys.status} ${keys.text}`);
      const pub = await api('POST', '/api/v1/releases/publish', await kit.publishRequest(VERSION));
      if (pub.status !== 201) throw new Error(`publishing agent ${VERSION} failed: HTTP ${pub.status} ${pub.text}`);
    } finally {
      await kit.close();
    }
    for (const [name, role] of [
      ['web-rollouts-operator', 'operator'],
      ['web-rollouts-viewer', 'viewer'],
    ] as const) {
      const made = await api('POST', '/api/v1/api-tokens', { name, role });
      if (made.status !== 201) throw new Error(`creating the ${role} token failed: HTTP ${made.status} ${made.text}`);
      if (role === 'operator') operatorToken = made.body.token;
      else viewerToken = made.body.token;
    }
  },
});

/** Starts a rollout of agent 0.3.0 to every host, signed by the fleet root, through the REST API as the operator. */
async function startRollout(): Promise<RolloutDetail> {
  const api = hx().server.api;
  const releases = await api('GET', '/api/v1/releases');
  const target = (releases.body.items as { version: string; path: string; sha256: string }[]).find((r) => r.version === VERSION);
  if (!target) throw new Error(`agent ${VERSION} is not published: ${releases.text}`);
  const rollout = signRollout(
    {
      v: 1,
      release: { kind: 'agent', name: 'gpufleet-agent', version: VERSION },
      target: { path: target.path, sha256: target.sha256 },
      selector: '',
      plan: { canary: 1, waves: [100], healthyForMs: HOUR, maxFailures: 0 },
      issuedAt: Date.now(),
      nonce: randomBytes(16).toString('hex'),
      invoker: root.did,
      capability: null,
    },
    root.privateKeyPem,
  );
  const started = await api('POST', '/api/v1/rollouts', { rollout }, operatorToken);
  expect(started.status, started.text).toBe(201);
  return started.body as RolloutDetail;
}

const serverRollout = async () => (await hx().server.api('GET', `/api/v1/rollouts/${rolloutId}`)).body as RolloutDetail;
const hostStates = () =>
  page()
    .locator('[data-testid="rollout-host"]')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-state')).sort());

describe('Rollouts in the dashboard (Chromium, real server, 3 simulated hosts)', () => {
  registerHooks();

  it('a rollout started through the API shows on the list, and its canary turns healthy there without a reload', async () => {
    const started = await startRollout();
    rolloutId = started.id;
    expect(started).toMatchObject({ state: 'running', release: { kind: 'agent', version: VERSION } });
    await signIn(operatorToken);
    await tid('nav-rollouts').click();
    const row = page().locator(`[data-testid="rollout-row"][data-id="${rolloutId}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('running');
    expect(await row.getByTestId('rollout-row-release').textContent()).toBe(`agent@${VERSION}`);
    expect(await row.getByTestId('rollout-row-step').textContent()).toBe('canary · 1 of 2');
    await expect.poll(() => row.getByTestId('rollout-row-progress').getAttribute('data-healthy'), { timeout: 20_000 }).toBe('1');
    expect(await row.getByTestId('rollout-row-progress').getAttribute('data-total')).toBe(String(HOSTS));
    await hx().screenshot('rollouts-list');
  }, 45_000);

  it('its page shows the plan, the steps and every host; Pause pauses it on the server', async () => {
    await page().locator(`[data-testid="rollout-row"][data-id="${rolloutId}"]`).getByTestId('rollout-row-release').click();
    await page().waitForURL(new RegExp(`/rollouts/${rolloutId}$`));
    expect(await text('rollout-state')).toBe('running');
    const server = await serverRollout();
    expect(await text('rollout-target')).toBe(`${server.target.path} sha256 ${server.target.sha256.slice(0, 12)}…`);
    expect(await text('rollout-plan-canary')).toBe('1 host first');
    expect(await text('rollout-plan-waves')).toBe('100%');
    expect(await text('rollout-plan-healthy-for')).toBe('1 h');
    await expect.poll(() => tid('rollout-step').first().getAttribute('data-state'), { timeout: 15_000 }).toBe('settling');
    expect(await tid('rollout-step').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-name')))).toEqual(['canary', 'wave 1 (100%)']);
    expect(await hostStates()).toEqual(['healthy', 'pending', 'pending']);
    expect(await page().locator('[data-testid="rollout-host"][data-state="healthy"] [data-testid="rollout-host-version"]').textContent()).toBe(
      `${BEFORE} → ${VERSION}`,
    );
    await hx().screenshot('rollouts-detail-running');

    await tid('rollout-pause').click();
    await expect.poll(() => text('rollout-state')).toBe('paused');
    expect(await text('rollout-message')).toMatch(/^paused by /);
    expect(await tid('rollout-pause').count()).toBe(0);
    const paused = await serverRollout();
    expect(paused.state).toBe('paused');
    expect(paused.message).toMatch(/^paused by /);
    await hx().screenshot('rollouts-detail-paused');
  }, 45_000);

  it('Resume runs it again; Abort asks, and with "roll back hosts" the canary host goes back', async () => {
    await tid('rollout-resume').click();
    await expect.poll(() => text('rollout-state')).toBe('running');
    expect((await serverRollout()).state).toBe('running');

    await tid('rollout-abort').click();
    await tid('confirm-dialog').waitFor();
    expect(await tid('rollout-abort-rollback').isChecked()).toBe(true);
    await tid('confirm-reason').fill('web e2e');
    await tid('confirm-ok').click();
    await expect.poll(() => text('rollout-state')).toBe('aborted');
    const aborted = await serverRollout();
    expect(aborted.state).toBe('aborted');
    expect(aborted.message).toMatch(/web e2e/);
    for (const b of ['rollout-pause', 'rollout-resume', 'rollout-abort']) expect(await tid(b).count()).toBe(0);
    // The canary host was told to go back, and says it did; the page shows it without a reload.
    await tid('rollout-host-filter').selectOption('rolledBack');
    await expect.poll(hostStates, { timeout: 20_000 }).toEqual(['rolled-back']);
    expect(await text('rollout-host-version')).toBe(`${BEFORE} → ${BEFORE}`);
    expect(page().url()).toMatch(/\?state=rolledBack$/);
    await expect.poll(() => tid('rollout-progress').getAttribute('data-rolled-back')).toBe('1');
    expect(await tid('rollout-step').first().getAttribute('data-state')).toBe('failed');
    expect(await tid('rollout-step').first().textContent()).toContain('stopped by the abort');
    await hx().screenshot('rollouts-detail-aborted');
  }, 45_000);

  it('a viewer sees the rollout but no button; a rollout that does not exist says so', async () => {
    await page().evaluate(() => sessionStorage.clear());
    await signIn(viewerToken);
    await page().goto(`${hx().url}/rollouts/${rolloutId}`);
    await expect.poll(() => text('rollout-state')).toBe('aborted');
    expect(await tid('nav-rollouts').count()).toBe(1);
    for (const b of ['rollout-pause', 'rollout-resume', 'rollout-abort']) expect(await tid(b).count()).toBe(0);
    await page().goto(`${hx().url}/rollouts/ro_does_not_exist`);
    await expect.poll(() => page().locator('main').textContent()).toContain('No rollout ro_does_not_exist');
    // The browser logs the 404 as a failed resource; that one, and only that, is fine here.
    expect(hx().errors.splice(0)).toEqual([expect.stringMatching(/status of 404 \(Not Found\).*\/api\/v1\/rollouts\/ro_does_not_exist/)]);
  }, 45_000);

  it('the rollout pages meet AA contrast, name every control and fit a 390 px phone, in both themes', async () => {
    const failures: string[] = [];
    for (const path of ['/rollouts', `/rollouts/${rolloutId}`]) {
      for (const theme of ['light', 'dark'] as const) {
        await page().goto(`${hx().url}${path}`);
        await page().locator('main h1').first().waitFor();
        if ((await page().evaluate(() => document.documentElement.dataset.theme)) !== theme) await tid('theme-toggle').click();
        const a = await auditPage(page());
        if (a.contrast.length > 0 || a.unnamed.length > 0) failures.push(auditReport(`${path} (${theme})`, a));
      }
      await page().setViewportSize({ width: 390, height: 844 });
      const narrow = await auditPage(page());
      if (narrow.overflowX > 0) failures.push(`${path}: ${narrow.overflowX}px wider than a 390 px screen`);
      await page().setViewportSize({ width: 1280, height: 1000 });
    }
    expect(failures, failures.join('\n')).toEqual([]);
  }, 60_000);
});
