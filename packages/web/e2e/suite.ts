import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { assertPrerequisites, startDashboardHarness, type DashboardHarness, type HarnessOptions } from './harness.js';

export interface DashboardSuiteOptions {
  /** What startDashboardHarness gets. */
  harness?: HarnessOptions;
  /**
   * Runs once the harness is up, before the first step: keys, roots, tokens, extra hosts, a
   * sign-in. A throw here fails every step with this error, as a failed harness start does.
   * vitest's expect.poll throws outside a test: wait with test/e2e/support/wait-for.ts instead.
   */
  setup?: (harness: DashboardHarness) => Promise<void> | void;
  /** Runs after the last step, before the harness closes; it must cope with a setup that stopped half way. */
  teardown?: () => Promise<void> | void;
  /** Default 90 s: the fleet has to enroll and report. */
  setupTimeoutMs?: number;
  /** Default 30 s. */
  teardownTimeoutMs?: number;
}

export interface DashboardSuite {
  /** Registers the hooks that start the harness before the first step and close it after the last; call it inside the describe. */
  registerHooks(): void;
  /** The started harness; throws the setup's error when the harness or the setup failed. */
  hx(): DashboardHarness;
  page(): Page;
  tid(testId: string): Locator;
  /** The trimmed text of the first element with that test id, '' when there is none within 5 s. */
  text(testId: string): Promise<string>;
  /** Signs in through the sign-in page (the admin token by default) and waits for the navigation. */
  signIn(token?: string): Promise<void>;
}

/**
 * What a browser e2e file shares: made at the top of the file, so the file's own helpers can use
 * page() and tid(), with registerHooks() called inside its describe. One harness serves every
 * step, in order. A setup failure, the missing dashboard build first of all, is kept and thrown
 * by every step, so each one fails with the fix in its message and none is silently skipped.
 * After each step the page's console errors and uncaught errors fail that step.
 */
export function dashboardSuite(o: DashboardSuiteOptions = {}): DashboardSuite {
  let harness: DashboardHarness | null = null;
  let setupError: Error | null = null;

  const hx = (): DashboardHarness => {
    if (setupError) throw setupError;
    if (!harness)
      throw new Error('the dashboard harness has not started: call registerHooks() inside the describe, and use the harness in a step or the setup');
    return harness;
  };
  const page = () => hx().page;
  const tid = (testId: string) => page().getByTestId(testId);
  const text = async (testId: string) =>
    (
      (await tid(testId)
        .first()
        .textContent({ timeout: 5000 })
        .catch(() => '')) ?? ''
    ).trim();
  const signIn = async (token?: string) => {
    await page().goto(`${hx().url}/`);
    await tid('signin-token').fill(token ?? hx().adminToken);
    await tid('signin-submit').click();
    await tid('nav-overview').waitFor({ timeout: 15_000 });
  };

  const registerHooks = () => {
    beforeAll(async () => {
      try {
        assertPrerequisites();
        harness = await startDashboardHarness(o.harness);
        await o.setup?.(harness);
      } catch (err) {
        setupError = err instanceof Error ? err : new Error(`the e2e setup failed: ${String(err)}`);
      }
    }, o.setupTimeoutMs ?? 90_000);

    // Also fails a step that never touches the harness.
    beforeEach(() => {
      if (setupError) throw setupError;
    });

    afterEach(() => {
      if (!setupError) harness?.assertNoBrowserErrors();
    });

    afterAll(async () => {
      try {
        await o.teardown?.();
      } finally {
        await harness?.close();
      }
    }, o.teardownTimeoutMs ?? 30_000);
  };

  return { registerHooks, hx, page, tid, text, signIn };
}
