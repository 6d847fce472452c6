// Dashboard heatmap benchmark: a control plane (this process) with N simulated agents (a child
// process, 8 GPUs each, metrics every 10 s), the built dashboard it serves, and Debian's Chromium
// signed in as admin on the overview. Measures, in the page: navigation to the heatmap drawn in
// full, main-thread long tasks and busy time over a window of live updates, a GPU cordoned over
// the API until the heatmap shows it, mouse move to tooltip, JS heap and DOM size, and the size
// and time of the API responses the overview fetched. Writes bench/results/dashboard-heatmap-N.json.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type BrowserContext, type Request } from 'playwright-core';
import { parseDurationMs } from '@gpufleet/protocol';
import { resolveServerConfig, startServer } from '@gpufleet/server';
import { CHROMIUM, CHROMIUM_ARGS, WEB_DIST } from '../packages/web/e2e/harness.js';
import { armHoverScript, hoverTargetsScript, probeScript, watchCordonScript } from './dashboard-probe.js';
import { forkAgents, machineInfo, percentile, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
/** A live update or a hover not shown within this counts as never (Infinity in the results). */
const UPDATE_TIMEOUT_MS = 60_000;
const HOVER_TIMEOUT_MS = 10_000;
/** What the page's stream has delivered so far, for progress lines. */
const STREAM_STATE = `({ sseEvents: window.__bench.sseEvents, sseMiB: Math.round(window.__bench.sseChars / 1048576), connection: document.querySelector('[data-testid="conn-status"]')?.textContent ?? null })`;

function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  return Promise.race([p, sleep(ms).then(() => null)]);
}

interface ApiCall {
  path: string;
  status: number;
  bytes: number;
  ms: number;
}

export async function runDashboardHeatmapBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: 'string', default: '10000' },
      live: { type: 'string', default: '60s' },
      loads: { type: 'string', default: '3' },
      updates: { type: 'string', default: '10' },
      hovers: { type: 'string', default: '20' },
      'web-dist': { type: 'string' },
      label: { type: 'string' },
      profile: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
    },
  });
  const agents = Number(values.agents);
  const loads = Number(values.loads);
  const updates = Number(values.updates);
  const hovers = Number(values.hovers);
  const liveMs = parseDurationMs(values.live!);
  for (const [name, v] of [
    ['agents', agents],
    ['loads', loads],
    ['updates', updates],
    ['hovers', hovers],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive whole number, got '${values[name]}'`);
  }
  if (values.label !== undefined && !/^[a-z0-9-]{1,40}$/.test(values.label))
    throw new Error(`--label must be lowercase letters, digits and dashes, got '${values.label}'`);
  const webDist = resolve(values['web-dist'] ?? WEB_DIST);
  if (!existsSync(join(webDist, 'index.html'))) throw new Error(`no dashboard build at ${webDist}: build it with npm run build -w @gpufleet/web`);
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set GPUFLEET_CHROMIUM`);

  const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-bench-dash-'));
  const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir, logLevel: 'warn' } });
  const server = await startServer(config, { logger: false });
  const adminToken = server.adminToken!;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  const { token } = await server.createJoinToken({ reusable: true, labels: { bench: 'dashboard' } });
  console.log(
    `dashboard-heatmap bench: ${agents} agents x 8 GPUs, metrics every ${config.metricsIntervalMs / 1000} s; ${loads} loads, ${liveMs / 1000} s live, ${updates} live updates, ${hovers} hovers; dashboard from ${webDist}`,
  );
  const fleet = await forkAgents(server, join(here, 'gateway-agents.ts'), [server.url, token, String(agents), values.seed!], agents);
  // Every GPU has a reading once a metrics interval has gone by.
  await sleep(config.metricsIntervalMs + 2000);
  const summary = await api('GET', '/api/v1/fleet/summary');
  const expectedCells: number = summary.gpus.total;
  const probeNodes = ((await api('GET', `/api/v1/nodes?limit=${updates}`)).items as { hostname: string }[]).map((n) => n.hostname);

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, '--enable-precise-memory-info'] });
  // bypassCSP: the dashboard's CSP (no eval) would refuse waitForFunction's string predicates.
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, bypassCSP: true });
  if (values['web-dist']) await serveDashboardFrom(context, server.url, webDist);
  await context.addInitScript({ content: probeScript(expectedCells) });
  const page = await context.newPage();
  page.setDefaultTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () =>
    Object.fromEntries(((await cdp.send('Performance.getMetrics')).metrics as { name: string; value: number }[]).map((m) => [m.name, m.value]));
  let calls: ApiCall[] = [];
  page.on('requestfinished', (req) => void recordApiCall(req, server.url).then((c) => c && calls.push(c)));

  await page.goto(`${server.url}/`);
  await page.getByTestId('signin-token').fill(adminToken);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('nav-overview').waitFor();

  // Cold loads of the overview (the token stays in sessionStorage across reloads).
  const loadRuns: { drawnMs: number; api: ApiCall[] }[] = [];
  for (let i = 0; i < loads; i++) {
    calls = [];
    await page.goto(`${server.url}/`, { waitUntil: 'commit' });
    await page.waitForFunction('window.__bench && window.__bench.drawnAt !== null', null, { polling: 200 });
    const drawnMs = (await page.evaluate('window.__bench.drawnAt')) as number;
    await sleep(1000);
    // The first answer per path is the one the first drawing waited for.
    const firsts = new Map<string, ApiCall>();
    for (const c of calls) if (!firsts.has(c.path)) firsts.set(c.path, c);
    loadRuns.push({ drawnMs, api: [...firsts.values()] });
    console.log(`  load ${i + 1}: heatmap drawn ${Math.round(drawnMs)} ms after navigation`);
  }
  await sleep(5000);
  await cdp.send('HeapProfiler.collectGarbage');
  const afterLoad = await metrics();
  console.log(
    `  after load: JS heap ${Math.round((afterLoad.JSHeapUsedSize ?? 0) / 2 ** 20)} MiB, ${afterLoad.Nodes} DOM nodes; measuring ${liveMs / 1000} s of live updates`,
  );

  // Live window: the fleet keeps reporting; nothing else happens on the page.
  await page.evaluate('window.__bench.longTasks = []; window.__bench.sseEvents = 0; window.__bench.sseChars = 0');
  if (values.profile) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
    await cdp.send('Profiler.start');
  }
  const m0 = await metrics();
  const t0 = Date.now();
  let heapMax = 0;
  let lastPrint = t0;
  while (Date.now() - t0 < liveMs) {
    await sleep(Math.min(5000, liveMs - (Date.now() - t0)));
    heapMax = Math.max(heapMax, (await metrics()).JSHeapUsedSize ?? 0);
    if (Date.now() - lastPrint >= 15_000) {
      lastPrint = Date.now();
      console.log(`  live ${Math.round((Date.now() - t0) / 1000)} s: ${JSON.stringify(await page.evaluate(STREAM_STATE))}`);
    }
  }
  const m1 = await metrics();
  const liveSeconds = (Date.now() - t0) / 1000;
  const hotspots = values.profile ? topSelfTime((await cdp.send('Profiler.stop')).profile as CpuProfile, 12) : null;
  const live = (await page.evaluate('({ longTasks: window.__bench.longTasks, sseEvents: window.__bench.sseEvents, sseChars: window.__bench.sseChars })')) as {
    longTasks: [number, number][];
    sseEvents: number;
    sseChars: number;
  };
  const longDurations = live.longTasks.map(([, d]) => d).sort((a, b) => a - b);
  const longTotal = longDurations.reduce((a, b) => a + b, 0);

  // One GPU cordoned over the API, until the open heatmap shows it.
  const updateRuns: { endToEndMs: number; browserMs: number | null }[] = [];
  for (let k = 0; k < updates; k++) {
    const hostname = probeNodes[k % probeNodes.length]!;
    const gpu = Math.floor(k / probeNodes.length) % 8;
    const marker = `bench-probe-${k}-${Date.now()}`;
    const watching = (await page.evaluate(watchCordonScript(marker, hostname, gpu))) as { found: boolean };
    if (!watching.found) throw new Error(`the heatmap has no cell for ${hostname} GPU ${gpu}`);
    const sentAt = Date.now();
    await api('POST', `/api/v1/nodes/${encodeURIComponent(hostname)}/gpus/${gpu}/cordon`, { reason: marker });
    const shown = await within(
      page.evaluate('window.__bench.shown') as Promise<{ arrivedAt: number | null; shownAt: number; timeOrigin: number }>,
      UPDATE_TIMEOUT_MS,
    );
    if (shown === null) {
      console.log(`  live update ${k + 1}: not shown within ${UPDATE_TIMEOUT_MS / 1000} s; page: ${JSON.stringify(await page.evaluate(STREAM_STATE))}`);
      updateRuns.push({ endToEndMs: Number.POSITIVE_INFINITY, browserMs: null });
      continue;
    }
    updateRuns.push({ endToEndMs: shown.timeOrigin + shown.shownAt - sentAt, browserMs: shown.arrivedAt === null ? null : shown.shownAt - shown.arrivedAt });
    console.log(`  live update ${k + 1}: shown ${Math.round(updateRuns[k]!.endToEndMs)} ms after the cordon was sent`);
    await sleep(1500);
  }

  // Mouse over distinct cells in view, until the tooltip shows each.
  await page.evaluate(`document.querySelector('[data-testid="heatmap"]').scrollIntoView({ block: 'center' })`);
  await sleep(1000);
  const targets = (await page.evaluate(hoverTargetsScript(hovers))) as { x: number; y: number }[];
  const hoverMs: number[] = [];
  let tooltip = false;
  for (const t of targets) {
    tooltip = (await page.evaluate(armHoverScript())) as boolean;
    await page.mouse.move(t.x, t.y);
    const hovered = await within(page.evaluate('window.__bench.hover') as Promise<{ ms: number }>, HOVER_TIMEOUT_MS);
    hoverMs.push(hovered === null ? Number.POSITIVE_INFINITY : hovered.ms);
    if (hovered === null) {
      const under = await page.evaluate(
        `(() => { const e = document.elementFromPoint(${t.x}, ${t.y}); const tip = document.querySelector('[data-testid="heatmap-tooltip"]'); return { under: e && (e.getAttribute('data-testid') || e.tagName), tip: tip && !tip.hidden ? tip.textContent : null }; })()`,
      );
      console.log(`  hover at (${Math.round(t.x)}, ${Math.round(t.y)}): no new tooltip within ${HOVER_TIMEOUT_MS / 1000} s; ${JSON.stringify(under)}`);
    }
    await sleep(300);
  }
  await cdp.send('HeapProfiler.collectGarbage');
  const end = await metrics();

  await browser.close();
  await fleet.stop();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });

  const drawn = loadRuns.map((r) => r.drawnMs).sort((a, b) => a - b);
  const sortedE2e = updateRuns.map((u) => u.endToEndMs).sort((a, b) => a - b);
  const sortedBrowser = updateRuns.flatMap((u) => (u.browserMs === null ? [] : [u.browserMs])).sort((a, b) => a - b);
  const sortedHover = [...hoverMs].sort((a, b) => a - b);
  const mib = (b: number | undefined) => round((b ?? 0) / 2 ** 20);
  const result = {
    bench: 'dashboard-heatmap',
    label: values.label ?? null,
    at: new Date().toISOString(),
    machine: machineInfo(),
    browser: `${CHROMIUM} ${browser.version()} (headless, software rendering), viewport 1280x1000`,
    agents,
    gpus: expectedCells,
    connectSeconds: round(fleet.connectSeconds),
    load: { drawnMs: drawn.map(round), drawnMedianMs: round(percentile(drawn, 50)), api: loadRuns[loadRuns.length - 1]!.api },
    afterLoad: { jsHeapMiB: mib(afterLoad.JSHeapUsedSize), domNodes: afterLoad.Nodes },
    live: {
      seconds: round(liveSeconds),
      sseEvents: live.sseEvents,
      sseMiB: mib(live.sseChars),
      longTasks: longDurations.length,
      longTaskTotalMs: round(longTotal),
      longTaskMaxMs: round(longDurations[longDurations.length - 1] ?? 0),
      longTaskShareOfWindowPct: round((longTotal / (liveSeconds * 1000)) * 100),
      mainThreadBusyPct: round((((m1.TaskDuration ?? 0) - (m0.TaskDuration ?? 0)) / liveSeconds) * 100),
      scriptPct: round((((m1.ScriptDuration ?? 0) - (m0.ScriptDuration ?? 0)) / liveSeconds) * 100),
      jsHeapMaxMiB: mib(heapMax),
    },
    liveUpdate: {
      runs: updateRuns.map((u) => ({ endToEndMs: round(u.endToEndMs), browserMs: u.browserMs === null ? null : round(u.browserMs) })),
      endToEndP50Ms: round(percentile(sortedE2e, 50)),
      endToEndMaxMs: round(sortedE2e[sortedE2e.length - 1] ?? NaN),
      sseToDrawnP50Ms: round(percentile(sortedBrowser, 50)),
      sseToDrawnMaxMs: round(sortedBrowser[sortedBrowser.length - 1] ?? NaN),
    },
    hover: {
      samples: hoverMs.length,
      tooltipElement: tooltip,
      p50Ms: round(percentile(sortedHover, 50)),
      maxMs: round(sortedHover[sortedHover.length - 1] ?? NaN),
    },
    atEnd: { jsHeapMiB: mib(end.JSHeapUsedSize), domNodes: end.Nodes },
    liveProfile: hotspots,
    browserErrors: errors.slice(0, 20),
  };
  console.table({
    'GPUs on the heatmap': result.gpus,
    'navigation -> heatmap drawn (median)': `${result.load.drawnMedianMs} ms (${result.load.drawnMs.join(', ')})`,
    ...Object.fromEntries(result.load.api.map((c) => [`GET ${c.path}`, `${mib(c.bytes)} MiB in ${round(c.ms)} ms`])),
    'JS heap after load (after GC)': `${result.afterLoad.jsHeapMiB} MiB`,
    'DOM nodes after load': result.afterLoad.domNodes,
    [`live ${result.live.seconds} s: SSE received`]: `${result.live.sseEvents} events, ${result.live.sseMiB} MiB`,
    'live: long tasks': `${result.live.longTasks}, ${result.live.longTaskTotalMs} ms in all (${result.live.longTaskShareOfWindowPct} %), longest ${result.live.longTaskMaxMs} ms`,
    'live: main thread busy': `${result.live.mainThreadBusyPct} % (script ${result.live.scriptPct} %)`,
    'live: JS heap max': `${result.live.jsHeapMaxMiB} MiB`,
    'cordon (API) -> heatmap, p50 / max': `${result.liveUpdate.endToEndP50Ms} / ${result.liveUpdate.endToEndMaxMs} ms`,
    'SSE event -> heatmap, p50 / max': `${result.liveUpdate.sseToDrawnP50Ms} / ${result.liveUpdate.sseToDrawnMaxMs} ms`,
    [tooltip ? 'mouse move -> tooltip, p50 / max' : 'mouse move -> next frame (native title, no tooltip element), p50 / max']:
      `${result.hover.p50Ms} / ${result.hover.maxMs} ms`,
    'JS heap at end (after GC)': `${result.atEnd.jsHeapMiB} MiB`,
    'browser errors': errors.length,
  });
  if (hotspots) {
    console.log(`where the page's main thread spent the live window (self time, ${liveSeconds.toFixed(0)} s):`);
    console.table(hotspots);
  }
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `dashboard-heatmap-${agents}${values.label ? `-${values.label}` : ''}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${file}`);
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** The functions with the most self time in a CDP CPU profile, as share of all samples. */
function topSelfTime(p: CpuProfile, n: number): { fn: string; where: string; pct: number }[] {
  const hits = new Map<string, number>();
  let total = 0;
  for (const node of p.nodes) {
    const h = node.hitCount ?? 0;
    if (h === 0) continue;
    total += h;
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'}\t${f.url ? `${f.url.split('/').pop()}:${f.lineNumber + 1}` : ''}`;
    hits.set(key, (hits.get(key) ?? 0) + h);
  }
  return [...hits.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, h]) => {
      const [fn, where] = k.split('\t');
      return { fn: fn!, where: where!, pct: round((h / Math.max(1, total)) * 100) };
    });
}

/** The size and time of one finished REST call (streams and static files are left out). */
async function recordApiCall(req: Request, base: string): Promise<ApiCall | null> {
  const url = new URL(req.url());
  if (!req.url().startsWith(base) || !url.pathname.startsWith('/api/') || url.pathname.endsWith('/stream')) return null;
  const res = await req.response();
  if (!res) return null;
  const sizes = await req.sizes();
  return {
    path: url.pathname + url.search.replace(/access_token=[^&]+/, 'access_token=…'),
    status: res.status(),
    bytes: sizes.responseBodySize,
    ms: req.timing().responseEnd,
  };
}

/** Serves another dashboard build than the one the server has (to compare two builds on one fleet). */
async function serveDashboardFrom(context: BrowserContext, base: string, dir: string): Promise<void> {
  const types: Record<string, string> = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.svg': 'image/svg+xml',
  };
  await context.route(`${base}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path.startsWith('/api/')) return route.fallback();
    const file = normalize(join(dir, decodeURIComponent(path)));
    const target = file.startsWith(dir) && existsSync(file) && statSync(file).isFile() ? file : join(dir, 'index.html');
    return route.fulfill({ status: 200, contentType: types[extname(target)] ?? 'application/octet-stream', body: readFileSync(target) });
  });
}
