import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { FaultInjector, startSimFleet, type SimFleet } from '@gpufleet/sim';
import { startTestServer, type TestServer } from '../../server/src/testing/test-server.js';
import type { ProviderFactories } from '../../server/src/pools/providers/cloud-provider.js';

/** packages/web/dist: what the server serves at `/` when it holds an index.html. */
export const WEB_DIST = fileURLToPath(new URL('../dist/', import.meta.url));
/** Debian's Chromium (`.ci/run` installs it); GPUFLEET_CHROMIUM overrides. */
export const CHROMIUM = process.env.GPUFLEET_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots land here (test-output/ is gitignored). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../../test-output/web/', import.meta.url));

// Without the background-networking flags Chromium dials Google services, which a closed
// network refuses, and those refusals would be noise at best and console errors at worst.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Throws the one instruction that fixes a missing dashboard build, and a missing browser.
 * The e2e test calls it first: a missing build must fail the suite, never skip it.
 */
export function assertPrerequisites(): void {
  if (!existsSync(join(WEB_DIST, 'index.html'))) {
    throw new Error(`the dashboard is not built (no ${join(WEB_DIST, 'index.html')}): build the dashboard: npm run build -w @gpufleet/web`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set GPUFLEET_CHROMIUM`);
  }
}

export interface HarnessOptions {
  /** Simulated hosts. Default 50. */
  hosts?: number;
  seed?: string | number;
  heartbeatInterval?: string;
  metricsInterval?: string;
  /** How long the fleet may take to be READY with every GPU sampled. Default 30 s. */
  readyTimeoutMs?: number;
  /** A did:key made the fleet's first root before the hosts join (join tokens carry the roots), so hosts accept commands it signs or delegates. */
  fleetRoot?: string;
  /** Pool provider factories the server gets over its builtin ones (the sim provider, for pools of simulated hosts). */
  providers?: ProviderFactories;
  /** The server's master key (it seals the release repository's online keys); default none. */
  masterKey?: string;
}

export interface DashboardHarness {
  server: TestServer;
  url: string;
  adminToken: string;
  fleet: SimFleet;
  faults: FaultInjector;
  context: BrowserContext;
  page: Page;
  /** Every console error and uncaught page error seen so far, in order. */
  errors: string[];
  /** Throws, listing them, when the page logged any console error or threw since the last call (and forgets them). */
  assertNoBrowserErrors(): void;
  /** Full-page screenshot to test-output/web/<name>.png; returns the path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real control plane (temp data dir, free port, fast heartbeat and metrics) serving the built
 * dashboard, a simulated fleet whose hosts watch fake kernel logs (so the FaultInjector can write
 * XIDs there), and a fresh headless Chromium with an empty profile. Every console error and page
 * error is recorded in `errors`; the test checks them after each step.
 */
export async function startDashboardHarness(o: HarnessOptions = {}): Promise<DashboardHarness> {
  assertPrerequisites();
  const hosts = o.hosts ?? 50;
  const seed = o.seed ?? 'web-e2e';
  const work = mkdtempSync(join(tmpdir(), 'gpufleet-web-e2e-'));
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => rmSync(work, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const c of cleanups.reverse())
      await Promise.resolve()
        .then(c)
        .catch(() => undefined);
  };
  try {
    const server = await startTestServer(
      { heartbeatInterval: o.heartbeatInterval ?? '500ms', metricsInterval: o.metricsInterval ?? '1s' },
      { ...(o.providers ? { providers: o.providers } : {}), ...(o.masterKey ? { masterKey: o.masterKey } : {}) },
    );
    cleanups.push(() => server.close());
    if (o.fleetRoot) {
      const init = await server.api('POST', '/api/v1/roots/init', { did: o.fleetRoot });
      if (init.status !== 201) throw new Error(`making ${o.fleetRoot} the fleet root failed: HTTP ${init.status} ${init.text}`);
    }
    const created = await server.api('POST', '/api/v1/join-tokens', { reusable: true, description: 'web e2e fleet' });
    if (created.status !== 201) throw new Error(`creating the fleet's join token failed: HTTP ${created.status} ${created.text}`);
    const config = server.server.context.config;
    const fleet = await startSimFleet({
      token: created.body.token,
      count: hosts,
      seed,
      agentVersion: 'web-e2e',
      kernelLog: { dir: join(work, 'kernel'), pollMs: 100 },
      startSpreadMs: 300,
      agentOptions: { metricsIntervalMs: config.metricsIntervalMs, backoff: { baseMs: 100, capMs: 1000 } },
    });
    cleanups.push(() => fleet.stop());
    await fleet.started;
    await waitForFleet(server, hosts, o.readyTimeoutMs ?? 30_000);
    const faults = new FaultInjector({ fleet, seed });
    cleanups.push(() => faults.dispose());

    const context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 1000 },
    });
    cleanups.push(() => context.close());
    const page = context.pages()[0] ?? (await context.newPage());
    // A missing element fails its step in seconds with the selector named, not at the test timeout.
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console error: ${m.text()} (${m.location().url || 'no url'})`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.stack ?? e.message}`));
    failOnNativeDialogs(page, errors);
    mkdirSync(SCREENSHOT_DIR, { recursive: true });

    return {
      server,
      url: server.url,
      adminToken: server.adminToken,
      fleet,
      faults,
      context,
      page,
      errors,
      assertNoBrowserErrors() {
        // Forgotten once reported, so one error fails the step it happened in, not every later one.
        const seen = errors.splice(0, errors.length);
        if (seen.length > 0) throw new Error(`the browser reported ${seen.length} error(s):\n${seen.join('\n')}`);
      },
      async screenshot(name) {
        const path = resolve(SCREENSHOT_DIR, `${name}.png`);
        await page.screenshot({ path, fullPage: true });
        return path;
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * The dashboard asks with its own dialog (components/dialog.tsx); a native alert, confirm or
 * prompt is a regression. It is dismissed (so the page does not hang) and recorded as an error,
 * which fails the step through assertNoBrowserErrors().
 */
export function failOnNativeDialogs(page: Page, errors: string[]): void {
  page.on('dialog', (d) => {
    errors.push(`native ${d.type()} dialog "${d.message()}": use the dashboard's confirm dialog (components/dialog.tsx)`);
    void d.dismiss().catch(() => undefined);
  });
}

/** Waits until every host is READY with all its GPUs sampled (what the overview counts). */
async function waitForFleet(server: TestServer, hosts: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await server.api('GET', `/api/v1/nodes?limit=${Math.max(1, hosts)}`);
    if (r.status === 200) {
      const items = r.body.items as { status: string; gpus: { sample: unknown }[] }[];
      const ready = items.filter((n) => n.status === 'READY' && n.gpus.length > 0 && n.gpus.every((g) => g.sample !== null)).length;
      if (items.length === hosts && ready === hosts) return;
      last = `${ready} of ${hosts} hosts READY and sampled (${items.length} enrolled)`;
    } else {
      last = `HTTP ${r.status} ${r.text}`;
    }
    if (Date.now() > deadline) throw new Error(`the simulated fleet was not ready within ${timeoutMs / 1000} s: ${last}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}
