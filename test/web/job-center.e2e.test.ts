import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditPage, auditReport } from '../../packages/web/e2e/page-audit.js';
import { dashboardSuite } from '../../packages/web/e2e/suite.js';
import { makeKey, TestSshd } from '../support/test-sshd.js';

/*
 * The job center in the dashboard, end to end: a real control plane, a real sshd on loopback
 * (its own host key; our key authorized), real ansible-playbook, and a real Chromium under the
 * dashboard's CSP. An admin adds the host with the Add node wizard (garbage refused, the host
 * key shown is the sshd's own, the key file picked in the browser, the facts previewed), makes
 * a group with a variable and sees where the node's value comes from, then runs a template on
 * the group and watches the live log and the per-host stats reach SUCCEEDED. A viewer sees no
 * action. Screenshots: test-output/web/job-center-*.
 */

// Credentials are sealed with it; the server reads it at start (this file runs in its own process).
process.env.GPUFLEET_MASTER_KEY ??= 'job-center-e2e-master-key-0123456789';

const HOST = 'jc-e2e-host';
const GROUP = 'e2e_lab';
let work = '';
let clientKey = '';
let sshd: TestSshd | null = null;

const { registerHooks, hx, page, tid, text, signIn } = dashboardSuite({
  harness: { hosts: 1 },
  async setup() {
    work = mkdtempSync(join(tmpdir(), 'gpufleet-jc-e2e-'));
    clientKey = join(work, 'id_ed25519');
    makeKey(clientKey);
    sshd = await TestSshd.start(join(work, 'sshd'), [`${clientKey}.pub`]);
  },
  async teardown() {
    await sshd?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  },
});

describe('Job center in the dashboard (Chromium, real server, a real sshd, real ansible-playbook)', () => {
  registerHooks();

  it('the Add node wizard refuses garbage, shows the host key the sshd really has, adds the host with it and previews its facts', async () => {
    await signIn();
    await tid('nav-ssh-hosts').click();
    await tid('ssh-add').click();
    await tid('ssh-hostname').fill(HOST);
    await tid('ssh-address').fill('127.0.0.1');
    await tid('ssh-port').fill('port');
    await tid('ssh-user').fill('root');
    await tid('ssh-probe').click();
    expect(await text('ssh-port-error')).toBe('Port: "port" is not a port number (1-65535)');
    expect(await text('ssh-key-error')).toBe('Key file: pick the private key file');
    await tid('ssh-port').fill(String(sshd!.port));
    await tid('ssh-key').setInputFiles(clientKey);
    await page().getByText('read: id_ed25519').waitFor();
    await tid('ssh-probe').click();
    await expect.poll(() => text('ssh-fingerprint'), { timeout: 15_000 }).toBe(sshd!.hostKeyFingerprint);
    expect(await text('ssh-keygen-command')).toBe('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    expect(await tid('ssh-add-confirm').isDisabled()).toBe(true);
    await hx().screenshot('job-center-host-key');
    await tid('ssh-fingerprint-matches').check();
    await tid('ssh-add-confirm').click();
    await expect.poll(() => text('ssh-added'), { timeout: 30_000 }).toBe(`Added ${HOST}`);
    await expect.poll(() => text('ssh-add-os'), { timeout: 15_000 }).toMatch(/\S/);
    expect(await text('ssh-add-cpus')).toMatch(/cores/);
    expect(await text('ssh-add-cli')).toContain(`--host-key ${sshd!.hostKeyFingerprint}`);
    // The key was sent once and is nowhere in the page.
    expect(await page().content()).not.toContain('PRIVATE KEY');
    await hx().screenshot('job-center-added');

    await tid('nav-ssh-hosts').click();
    const row = page().locator(`[data-testid="ssh-host-row"][data-hostname="${HOST}"]`);
    await expect.poll(() => row.getAttribute('data-reachable'), { timeout: 15_000 }).toBe('true');
    expect(await row.textContent()).toContain(`127.0.0.1:${sshd!.port}`);
  }, 90_000);

  it('an operator-made group gets the host by name and a variable; the node page explains where its value comes from', async () => {
    await tid('nav-groups').click();
    await tid('global-vars-lines').fill('greeting=from-global');
    await tid('global-vars-set').click();
    await page().locator('[data-testid="global-vars"] [data-testid="var-row"][data-name="greeting"]').waitFor();
    await tid('group-name').fill(GROUP);
    await tid('group-priority').fill('ten');
    await tid('group-create').click();
    expect(await text('group-create-error')).toBe('Priority: "ten" is not a whole number from -1000 to 1000');
    await tid('group-priority').fill('10');
    await tid('group-selector').fill('gpu in (a');
    await tid('group-create').click();
    await expect.poll(() => text('group-create-error'), { timeout: 10_000 }).toMatch(/selector/i);
    // The refusal is the server's (the page checks no selector syntax): the browser logs its 400.
    expect(hx().errors.splice(0)).toEqual([expect.stringMatching(/status of 400 \(Bad Request\).*\/api\/v1\/groups/)]);
    await tid('group-selector').fill('');
    await tid('group-members').fill(HOST);
    await tid('group-create').click();
    await expect.poll(() => text('group-title'), { timeout: 10_000 }).toBe(`Group ${GROUP}`);
    const member = page().locator(`[data-testid="group-member"][data-hostname="${HOST}"]`);
    await member.waitFor();
    await tid('group-vars-lines').fill('greeting=from-group\nretries=3');
    await tid('group-vars-set').click();
    await expect
      .poll(() =>
        page()
          .locator('[data-testid="group-vars"] [data-testid="var-row"]')
          .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name'))),
      )
      .toEqual(['greeting', 'retries']);
    await hx().screenshot('job-center-group');
    await member.getByText('variables').click();
    const greeting = page().locator('[data-testid="node-var"][data-name="greeting"]');
    await expect.poll(() => greeting.getAttribute('data-origin'), { timeout: 10_000 }).toBe(`group ${GROUP}`);
    expect(await greeting.getByTestId('node-var-overrides').textContent()).toBe('global: from-global');
    expect(await page().locator('[data-testid="node-var"][data-name="retries"] td').nth(1).textContent()).toBe('3');
    await hx().screenshot('job-center-node-vars');
  }, 60_000);

  it('runs a template on the group: the run form refuses garbage, then the play page shows the live log and the host ok', async () => {
    await tid('nav-plays').click();
    await page().locator('[data-testid="template-row"][data-name="connectivity_check"] [data-testid="template-run"]').click();
    await expect.poll(() => tid('play-template').inputValue()).toBe('connectivity_check');
    await tid('play-selector').fill(`group=${GROUP}`);
    await tid('play-serial').fill('0');
    await tid('play-extra-vars').fill('not a var');
    await tid('play-start').click();
    expect(await text('play-serial-error')).toBe('Serial: a number of hosts (5) or a share of them (25%)');
    expect(await text('play-extra-vars-error')).toBe('Extra vars: "not a var" is not name=value');
    await tid('play-serial').fill('1');
    await tid('play-extra-vars').fill('');
    await tid('play-selector').fill('gpu in (a');
    await tid('play-start').click();
    await expect.poll(() => text('play-start-error'), { timeout: 10_000 }).toMatch(/selector/i);
    expect(hx().errors.splice(0)).toEqual([expect.stringMatching(/status of 400 \(Bad Request\).*\/api\/v1\/plays/)]);
    expect(new URL(page().url()).pathname).toBe('/plays/new');
    await tid('play-selector').fill(`group=${GROUP}`);
    await tid('play-start').click();
    // The plan comes first: the group holds SSH hosts only, so nothing is signed.
    await expect.poll(() => text('play-plan'), { timeout: 10_000 }).toMatch(/runs on 1 SSH host/);
    await tid('play-confirm').click();
    await page().waitForURL(/\/plays\/[^/]+$/, { timeout: 10_000 });
    await expect.poll(() => text('play-state'), { timeout: 90_000 }).toBe('SUCCEEDED');
    const host = page().locator(`[data-testid="play-host"][data-hostname="${HOST}"]`);
    expect(await host.getAttribute('data-state')).toBe('ok');
    expect(Number(await host.getAttribute('data-ok'))).toBeGreaterThan(0);
    await expect.poll(() => page().locator(`[data-testid="play-log-line"][data-kind="host"]`).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    // The stream's `end` may come a moment after the play read as over.
    await expect.poll(() => tid('play-log-mode').getAttribute('data-mode'), { timeout: 10_000 }).toBe('ended');
    expect(await tid('play-cancel').count()).toBe(0);
    await hx().screenshot('job-center-play');
    // The plays list has it, with its host ok.
    await tid('nav-plays').click();
    const row = page().locator('[data-testid="play-row"]').first();
    await expect.poll(() => row.getAttribute('data-state')).toBe('SUCCEEDED');
    expect(await row.getByTestId('play-row-hosts').textContent()).toBe('1/0/1');
  }, 150_000);

  it('the job center pages meet AA contrast, name every control and fit a 390 px phone, in both themes', async () => {
    const failures: string[] = [];
    const paths = ['/ssh-hosts', '/ssh-hosts/add', '/groups', `/groups/${GROUP}`, '/plays', '/plays/new', '/plays/templates/connectivity_check'];
    for (const path of paths) {
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
      await page().setViewportSize({ width: 390, height: 844 });
      const overflow = (await auditPage(page())).overflowX;
      if (overflow > 0) failures.push(`${path}: ${overflow}px wider than a 390 px screen`);
      await page().setViewportSize({ width: 1280, height: 1000 });
    }
    expect(failures, failures.join('\n')).toEqual([]);
  }, 90_000);

  it('a viewer reads the job center but gets no action', async () => {
    const made = await hx().server.api('POST', '/api/v1/api-tokens', { name: 'jc-viewer', role: 'viewer' });
    expect(made.status).toBe(201);
    await tid('signout').click();
    await signIn(made.body.token);
    await page().goto(`${hx().url}/ssh-hosts`);
    await page().locator(`[data-testid="ssh-host-row"][data-hostname="${HOST}"]`).waitFor();
    expect(await tid('ssh-add').count()).toBe(0);
    expect(await tid('ssh-collect').count()).toBe(0);
    await page().goto(`${hx().url}/groups/${GROUP}`);
    await tid('group-title').waitFor();
    expect(await tid('group-save').count()).toBe(0);
    expect(await tid('group-vars-set').count()).toBe(0);
    await page().goto(`${hx().url}/plays`);
    await page().locator('[data-testid="play-row"]').first().waitFor();
    expect(await tid('play-new').count()).toBe(0);
    expect(await tid('template-run').count()).toBe(0);
  }, 30_000);
});
