import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateEd25519, signCapability } from '@gpufleet/protocol';
import { createOperatorKey, type OperatorKey } from '../../packages/cli/src/keys/key-store.js';
import { DASHBOARD_CSP } from '../../packages/server/src/routes/web-routes.js';
import { assertPrerequisites } from '../../packages/web/e2e/harness.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';

/*
 * Signing a run in the browser, end to end: a real control plane whose fleet root delegated
 * exec/run to an operator key, three simulated hosts (the real agent code, real `echo`), and a
 * real Chromium. The operator imports the key file the CLI wrote (sealed with scrypt N=2^15),
 * unlocks it, fills in /runs/new, signs, and watches every host run it. The page runs under the
 * dashboard's CSP: any violation is a console error, which fails the step.
 */

const HOSTS = 3;
const PASSPHRASE = 'browser signing passphrase';
const KEY_NAME = 'ops-browser';

// The fleet root: the harness makes it the first root before the hosts join.
const root = generateEd25519();
let keyDir = '';
let operator: OperatorKey;
let operatorToken = '';
let viewerToken = '';
let runId = '';

const { registerHooks, hx, page, tid, text, signIn } = dashboardSuite({
  harness: { hosts: HOSTS, fleetRoot: root.did },
  async setup(harness) {
    keyDir = mkdtempSync(join(tmpdir(), 'gpufleet-web-signing-'));
    operator = createOperatorKey(KEY_NAME, { dir: keyDir, passphrase: PASSPHRASE });
    // Chromium logs blocked inline script and style, but not a blocked eval: report every violation as a console error.
    await harness.page.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)),
    );
    const now = Date.now();
    const capability = signCapability(
      { v: 1, iss: root.did, aud: operator.did, can: ['exec/run'], on: '*', nbf: now - 60_000, exp: now + 3_600_000, nonce: 'web-signing-e2e', prf: [] },
      root.privateKeyPem,
    );
    const registered = await harness.server.api('POST', '/api/v1/capabilities', { capability });
    if (registered.status !== 201) throw new Error(`registering the capability failed: HTTP ${registered.status} ${registered.text}`);
    for (const role of ['operator', 'viewer'] as const) {
      const made = await harness.server.api('POST', '/api/v1/api-tokens', { name: `web-${role}`, role });
      if (made.status !== 201) throw new Error(`creating the ${role} token failed: HTTP ${made.status} ${made.text}`);
      if (role === 'operator') operatorToken = made.body.token;
      else viewerToken = made.body.token;
    }
  },
  teardown() {
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  },
});

async function unlockByFile(passphrase: string): Promise<void> {
  await tid('key-file').setInputFiles(operator.path);
  await expect.poll(() => text('key-found')).toContain(operator.did);
  await tid('key-passphrase').fill(passphrase);
  await tid('key-unlock').click();
}

describe('signing runs in the browser (Chromium, real server, 3 simulated hosts)', () => {
  registerHooks();

  it('the dashboard build and the browser are there', () => {
    assertPrerequisites();
    hx();
  });

  it('serves the dashboard with a strict CSP and no inline script', async () => {
    const res = await fetch(`${hx().url}/keys`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    const scripts = html.match(/<script\b[^>]*>[\s\S]*?<\/script>/gi) ?? [];
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) {
      expect(s).toMatch(/\bsrc="\/assets\/[^"]+\.js"/);
      expect(
        s
          .replace(/^<script\b[^>]*>/i, '')
          .replace(/<\/script>$/i, '')
          .trim(),
      ).toBe('');
    }
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/<style\b|\sstyle\s*=/i);
  });

  it('an operator unlocks the key file the CLI wrote; a wrong passphrase is refused first', async () => {
    await signIn(operatorToken);
    await tid('nav-keys').click();
    await tid('key-form').waitFor();
    await hx().screenshot('signing-key');

    await unlockByFile('not the passphrase');
    await expect.poll(() => text('key-error'), { timeout: 20_000 }).toContain(`wrong passphrase for key '${KEY_NAME}'`);
    expect(await tid('key-passphrase').inputValue()).toBe('');

    await tid('key-passphrase').fill(PASSPHRASE);
    await tid('key-unlock').click();
    await expect.poll(() => text('key-did'), { timeout: 20_000 }).toBe(operator.did);
    // The form, and the passphrase in it, are gone.
    expect(await tid('key-passphrase').count()).toBe(0);
    await expect.poll(() => tid('key-authority').first().getAttribute('data-kind')).toBe('capability');
    expect(await text('key-capability-can')).toBe('exec/run');
    expect(await text('key-capability-on')).toBe('every host');
    expect(await text('key-capability-exp')).toMatch(/^until \d{4}-\d\d-\d\d/);

    // Nothing of the key reached web storage or IndexedDB.
    const sealed = JSON.parse(readFileSync(operator.path, 'utf8')) as { ciphertext: string };
    const stored = await page().evaluate(async () => {
      const dump = (s: Storage) => Array.from({ length: s.length }, (_, i) => `${s.key(i)}=${s.getItem(s.key(i)!)}`).join('\n');
      const dbs = indexedDB.databases ? await indexedDB.databases() : [];
      return { local: dump(localStorage), session: dump(sessionStorage), dbs: dbs.length };
    });
    for (const where of [stored.local, stored.session]) {
      expect(where).not.toContain('PRIVATE KEY');
      expect(where).not.toContain(sealed.ciphertext.slice(0, 24));
      expect(where).not.toContain(PASSPHRASE);
    }
    expect(stored.dbs).toBe(0);
    await hx().screenshot('signing-key-unlocked');
  }, 60_000);

  it('New run shows the exact payload and the CLI command, signs it, and every host runs it', async () => {
    await tid('key-new-run').click();
    await tid('run-form').waitFor();
    await tid('run-command').fill('echo hello-from-browser');
    await expect.poll(async () => tid('run-count').getAttribute('data-count')).toBe(String(HOSTS));
    await expect.poll(() => text('run-preview')).toContain('hello-from-browser');
    const preview = JSON.parse(await text('run-preview')) as Record<string, any>;
    expect(preview).toMatchObject({
      v: 1,
      target: '*',
      ability: 'exec/run',
      invoker: operator.did,
      command: { kind: 'argv', argv: ['echo', 'hello-from-browser'] },
      timeoutMs: 60_000,
    });
    expect(preview.capability.aud).toBe(operator.did);
    expect(await text('run-cli')).toBe(`gpufleet exec -l '*' --key ${KEY_NAME} --cap cap.json -- echo hello-from-browser`);
    await hx().screenshot('run-new');
    // A phone's width, dark theme: nothing runs off the side.
    await page().setViewportSize({ width: 390, height: 900 });
    await tid('theme-toggle').click();
    await hx().screenshot('run-new-390-toggled-theme');
    expect(await page().evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await tid('theme-toggle').click();
    await page().setViewportSize({ width: 1280, height: 1000 });

    await tid('run-sign').click();
    await page().waitForURL(/\/runs\/run_[A-Za-z0-9_-]{12}$/, { timeout: 15_000 });
    runId = decodeURIComponent(new URL(page().url()).pathname.split('/').pop()!);
    expect(runId).toBe(preview.runId);
    const rows = page().locator('[data-testid="run-target"]');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(HOSTS);
    await expect
      .poll(() => rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-state'))), { timeout: 20_000 })
      .toEqual(Array(HOSTS).fill('succeeded'));
    await expect.poll(() => text('run-output'), { timeout: 10_000 }).toContain('hello-from-browser');

    const run = (await hx().server.api('GET', `/api/v1/runs/${encodeURIComponent(runId)}`)).body as {
      invoker: string;
      capabilityId: string | null;
      createdBy: string;
      targets: { state: string; exitCode: number }[];
    };
    expect(run.invoker).toBe(operator.did);
    expect(run.capabilityId).toMatch(/^[0-9a-f]{64}$/);
    expect(run.targets.map((t) => [t.state, t.exitCode])).toEqual(Array(HOSTS).fill(['succeeded', 0]));
    await hx().screenshot('run-signed-in-browser');
  }, 60_000);

  it('"Forget key" forgets it: New run then offers only the CLI command and a link to unlock', async () => {
    await tid('nav-keys').click();
    await tid('key-forget').click();
    await tid('key-form').waitFor();
    await tid('nav-runs').click();
    await tid('runs-new').click();
    await tid('run-need-key').waitFor();
    expect(await tid('run-sign').count()).toBe(0);
    await tid('run-command').fill('nvidia-smi -L');
    await expect.poll(() => text('run-cli')).toBe("gpufleet exec -l '*' -- nvidia-smi -L");
  }, 30_000);

  it('a pasted key works too, and a reload forgets it', async () => {
    await tid('nav-keys').click();
    await tid('key-text').fill(readFileSync(operator.path, 'utf8'));
    await tid('key-passphrase').fill(PASSPHRASE);
    await tid('key-unlock').click();
    await expect.poll(() => text('key-did'), { timeout: 20_000 }).toBe(operator.did);

    // A capability file: one granted to another key is refused; this key's own is used and summed up.
    const now = Date.now();
    const grantTo = (aud: string, on: string) =>
      signCapability(
        { v: 1, iss: root.did, aud, can: ['exec/run', 'container/logs'], on, nbf: now - 60_000, exp: now + 7_200_000, nonce: `file-${aud.slice(-8)}`, prf: [] },
        root.privateKeyPem,
      );
    await page().locator('.key-cap-import summary').click();
    await tid('cap-text').fill(JSON.stringify(grantTo(root.did, '*')));
    await tid('cap-use').click();
    await expect.poll(() => text('cap-error')).toBe(`this capability was granted to ${root.did}, not to your key ${operator.did}`);
    await tid('cap-text').fill(JSON.stringify({ capability: grantTo(operator.did, 'gpu.model=H100') }, null, 2));
    await tid('cap-use').click();
    await expect.poll(() => text('key-authority')).toContain('an imported capability');
    expect(await text('key-capability-can')).toBe('exec/run, container/logs');
    expect(await text('key-capability-on')).toBe('gpu.model=H100');
    await tid('key-cap-registered').click();
    await expect.poll(() => text('key-authority')).toContain('the capability registered for it');
    await page().reload();
    await tid('key-form').waitFor({ timeout: 15_000 });
    expect(await tid('key-did').count()).toBe(0);
  }, 45_000);

  it('a viewer sees no signing key page and no way to start a run', async () => {
    await tid('signout').click();
    await signIn(viewerToken);
    expect(await tid('nav-keys').count()).toBe(0);
    await tid('nav-runs').click();
    await page().locator('[data-testid="runs-row"]').first().waitFor();
    expect(await tid('runs-new').count()).toBe(0);
    // Typed straight into the address bar: the page explains, with no form and no button.
    await page().goto(`${hx().url}/runs/new`);
    await expect.poll(() => page().locator('.state-empty').first().textContent()).toContain('needs the operator role');
    expect(await tid('run-form').count()).toBe(0);
    expect(await tid('run-sign').count()).toBe(0);
  }, 30_000);

  it('every page of the dashboard renders under the CSP without a violation (the overview and the live charts of a node included)', async () => {
    await tid('signout').click();
    await signIn();
    for (const nav of ['nav-overview', 'nav-nodes', 'nav-alerts', 'nav-events', 'nav-runs', 'nav-keys', 'nav-tokens', 'nav-api-tokens', 'nav-audit']) {
      await tid(nav).click();
      await page().locator('main h1, #main h1').first().waitFor();
      hx().assertNoBrowserErrors();
    }
    await tid('nav-overview').click();
    await tid('overview-nodes-total').waitFor({ timeout: 10_000 });
    await tid('nav-nodes').click();
    await page().locator('[data-testid="nodes-row"]').first().click();
    await expect
      .poll(
        async () =>
          Number(
            (await tid('node-chart-util')
              .getAttribute('data-points')
              .catch(() => null)) ?? 0,
          ),
        { timeout: 10_000 },
      )
      .toBeGreaterThan(0);
    await tid('nav-runs').click();
    await page().locator('[data-testid="runs-row"] a').first().click();
    await expect.poll(() => text('run-output'), { timeout: 10_000 }).toContain('hello-from-browser');
  }, 60_000);
});
