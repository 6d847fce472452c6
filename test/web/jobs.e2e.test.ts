import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateEd25519, signCapability } from '@gpufleet/protocol';
import { createOperatorKey, type OperatorKey } from '../../packages/cli/src/keys/key-store.js';
import { auditPage, auditReport } from '../../packages/web/e2e/page-audit.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * GPU workloads in the dashboard, end to end: a real control plane whose fleet root delegated
 * workload/run to an operator key, three simulated hosts running the real agent with the
 * simulator's fake executor, and a real Chromium under the dashboard's CSP. The operator unlocks
 * the key file the CLI wrote, pastes a job file on /jobs/new (a bad one first: its line and field
 * are named), plans it, signs it in the tab and submits it; the allocations appear running on
 * their GPUs, an allocation's log streams, the heatmap, the GPUs page and the node page show
 * which GPUs are held, and Stop frees them. Screenshots: test-output/web/jobs-*.
 */

const HOSTS = 3;
const PASSPHRASE = 'jobs in the browser';
const KEY_NAME = 'ops-jobs';
const JOB = 'web-e2e';
const JOB_FILE = `name: ${JOB}
allocations:
  web:
    count: 2
    executor: container
    image: docker.io/library/busybox:1.36
    command: [sh, -c, "echo serving; sleep 3600"]
    env: { MODEL: tiny }
    resources: { gpus: 1 }
`;

const root = generateEd25519();
let keyDir = '';
let operator: OperatorKey;
let operatorToken = '';

const { registerHooks, hx, page, tid, text, signIn } = dashboardSuite({
  harness: { hosts: HOSTS, fleetRoot: root.did },
  async setup(harness) {
    keyDir = mkdtempSync(join(tmpdir(), 'gpufleet-web-jobs-'));
    operator = createOperatorKey(KEY_NAME, { dir: keyDir, passphrase: PASSPHRASE });
    await harness.page.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)),
    );
    const now = Date.now();
    const capability = signCapability(
      { v: 1, iss: root.did, aud: operator.did, can: ['workload/run'], on: '*', nbf: now - 60_000, exp: now + 3_600_000, nonce: 'web-jobs-e2e', prf: [] },
      root.privateKeyPem,
    );
    const registered = await harness.server.api('POST', '/api/v1/capabilities', { capability });
    if (registered.status !== 201) throw new Error(`registering the capability failed: HTTP ${registered.status} ${registered.text}`);
    const made = await harness.server.api('POST', '/api/v1/api-tokens', { name: 'web-jobs-operator', role: 'operator' });
    if (made.status !== 201) throw new Error(`creating the operator token failed: HTTP ${made.status} ${made.text}`);
    operatorToken = made.body.token;
  },
  teardown() {
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  },
});

/** data-status of every allocation row on the job page. */
const allocStatuses = () =>
  page()
    .locator('[data-testid="alloc-row"]')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')));

describe('GPU workloads in the dashboard (Chromium, real server, 3 simulated hosts)', () => {
  registerHooks();

  it('an operator unlocks the key whose capability grants workload/run', async () => {
    await signIn(operatorToken);
    await tid('nav-keys').click();
    await tid('key-file').setInputFiles(operator.path);
    await expect.poll(() => text('key-found')).toContain(operator.did);
    await tid('key-passphrase').fill(PASSPHRASE);
    await tid('key-unlock').click();
    await expect.poll(() => text('key-did'), { timeout: 20_000 }).toBe(operator.did);
    await expect.poll(() => tid('key-authority').first().getAttribute('data-kind')).toBe('capability');
    expect(await text('key-capability-can')).toBe('workload/run');
  }, 45_000);

  it('a bad job file is refused with its line and field; a good one shows the spec to sign and its plan', async () => {
    await tid('nav-jobs').click();
    await tid('jobs-new').click();
    await tid('job-form').waitFor();
    await tid('job-source').fill(JOB_FILE.replace('count: 2', 'count: lots'));
    const problem = page().getByTestId('job-problem-item').first();
    await expect.poll(() => problem.getAttribute('data-line'), { timeout: 10_000 }).toBe('4');
    expect(await problem.getAttribute('data-field')).toBe('allocations.web.count');
    expect(await tid('job-sign').isDisabled()).toBe(true);
    await hx().screenshot('jobs-bad-file');
    // The browser logs the refused file (400) as a failed resource; that one, and only that, is fine here.
    expect(hx().errors.splice(0)).toEqual([expect.stringMatching(/status of 400 \(Bad Request\).*\/api\/v1\/jobs\/parse/)]);

    await tid('job-source').fill(JOB_FILE);
    await expect.poll(() => tid('job-spec-summary').getAttribute('data-name'), { timeout: 10_000 }).toBe(JOB);
    await page().locator('summary', { hasText: 'The exact payload to sign' }).click();
    const payload = JSON.parse(await text('job-payload')) as Record<string, any>;
    expect(payload).toMatchObject({ v: 1, invoker: operator.did, job: { name: JOB, kind: 'service' } });
    expect(payload.job.allocations.web).toMatchObject({ count: 2, executor: 'container', resources: { gpus: 1 } });
    expect(payload.capability.can).toEqual(['workload/run']);
    expect(await text('job-spec-hash')).toMatch(/^[0-9a-f]{64}$/);

    await tid('job-plan').click();
    await expect.poll(() => tid('job-plan-result').getAttribute('data-placed'), { timeout: 10_000 }).toBe('2');
    expect(await tid('job-plan-result').getAttribute('data-failures')).toBe('0');
    // A plan stores nothing.
    expect((await hx().server.api('GET', `/api/v1/jobs/${JOB}`)).status).toBe(404);
    await hx().screenshot('jobs-new-planned');
  }, 45_000);

  it('signs and submits the job in the tab; both allocations start on their own GPUs', async () => {
    await tid('job-sign').click();
    await page().waitForURL(new RegExp(`/jobs/${JOB}$`), { timeout: 15_000 });
    await expect.poll(allocStatuses, { timeout: 30_000 }).toEqual(['running', 'running']);
    await expect.poll(() => tid('job-status').getAttribute('data-status'), { timeout: 15_000 }).toBe('running');
    const gpus = await page()
      .locator('[data-testid="alloc-row"] [data-gpu]')
      .evaluateAll((els) => els.map((e) => `${e.closest('tr')!.getAttribute('data-node')}/${e.getAttribute('data-gpu')}/${e.getAttribute('data-uuid')}`));
    expect(gpus).toHaveLength(2);
    expect(new Set(gpus).size).toBe(2);
    for (const g of gpus) expect(g.split('/')[2]).not.toBe('');

    const job = (await hx().server.api('GET', `/api/v1/jobs/${JOB}`)).body as { version: number; versions: { invoker: string }[]; source: string | null };
    expect(job.version).toBe(1);
    expect(job.versions.map((v) => v.invoker)).toEqual([operator.did]);
    expect(job.source).toBe(JOB_FILE);
    await hx().screenshot('jobs-running');
  }, 60_000);

  it("streams an allocation's log", async () => {
    await page().locator('[data-testid="alloc-row"][data-name="web-0"] [data-testid="alloc-logs"]').click();
    await tid('alloc-log-tail').waitFor();
    await expect.poll(() => text('alloc-log'), { timeout: 15_000 }).toContain('sim: ready');
    expect(await tid('alloc-log-status').textContent()).toBe('live');
    expect(new URL(page().url()).searchParams.get('alloc')).toMatch(/\S/);
    await hx().screenshot('jobs-log');
  }, 30_000);

  it('the jobs list, the GPUs page, the node page and the heatmap show the GPUs the job holds', async () => {
    await tid('nav-jobs').click();
    const row = page().locator(`[data-testid="jobs-row"][data-name="${JOB}"]`);
    await expect.poll(() => row.getAttribute('data-running'), { timeout: 10_000 }).toBe('2');
    expect(await row.getAttribute('data-desired')).toBe('2');

    await tid('nav-gpus').click();
    const held = page().getByTestId('gpus-allocation');
    await expect.poll(() => held.allTextContents(), { timeout: 20_000 }).toEqual(expect.arrayContaining([`${JOB}/web-0`, `${JOB}/web-1`]));

    await page().goto(`${hx().url}/jobs/${JOB}`);
    await page().locator('[data-testid="alloc-row"][data-name="web-0"] [data-testid="alloc-node"]').click();
    await tid('node-allocations').waitFor();
    await expect
      .poll(() => page().locator('[data-testid="node-allocations"] [data-testid="alloc-row"] a').allTextContents(), { timeout: 15_000 })
      .toContain(`${JOB}/web-0`);

    await tid('nav-overview').click();
    await expect.poll(() => tid('heatmap').getAttribute('data-allocated'), { timeout: 20_000 }).toBe('2');
    await expect.poll(() => text('heatmap-summary')).toContain('Allocated to jobs: 2.');
    await hx().screenshot('jobs-heatmap');
  }, 60_000);

  it('the workload pages meet AA contrast, name every control and fit a 390 px phone, in both themes', async () => {
    const failures: string[] = [];
    for (const path of ['/jobs', '/jobs/new', `/jobs/${JOB}`]) {
      for (const theme of ['light', 'dark'] as const) {
        await page().goto(`${hx().url}${path}`);
        await tid('nav-overview').waitFor({ timeout: 15_000 });
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
  }, 90_000);

  it('Stop asks first, then stops both allocations and frees their GPUs', async () => {
    await page().goto(`${hx().url}/jobs/${JOB}?alloc=web-0`);
    await tid('alloc-log-tail').waitFor({ timeout: 15_000 });
    await tid('job-stop').click();
    await tid('confirm-reason').fill('e2e done');
    await tid('confirm-ok').click();
    await expect.poll(() => tid('job-status').getAttribute('data-status'), { timeout: 15_000 }).toBe('stopped');
    await expect.poll(allocStatuses, { timeout: 30_000 }).toEqual(['stopped', 'stopped']);
    // The allocation is over: its log stream says so and the tail closes it.
    await expect.poll(() => tid('alloc-log-tail').getAttribute('data-ended'), { timeout: 15_000 }).toBe('true');
    expect(await text('alloc-log-status')).toBe('ended');
    await hx().screenshot('jobs-stopped');

    await tid('nav-gpus').click();
    await page().locator('[data-testid="gpus-row"]').first().waitFor();
    await expect.poll(() => page().getByTestId('gpus-allocation').count(), { timeout: 20_000 }).toBe(0);
    const allocs = (await hx().server.api('GET', '/api/v1/allocations?active=true')).body as { items: unknown[] };
    expect(allocs.items).toEqual([]);
  }, 60_000);
});
