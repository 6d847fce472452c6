import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';
import { testGpuSample } from '../testing/fake-host.js';
import { checkExposition, type ParsedFamily } from './__tests__/exposition-checker.js';

/**
 * docs/grafana's dashboard against what a real server's /metrics writes for a connected NVIDIA
 * host: every metric a panel or variable queries must be there, with the labels it filters
 * and groups by, so no panel is empty on gpufleet.
 */

const DASHBOARD = new URL('../../../../docs/grafana/gpufleet-dcgm-dashboard.json', import.meta.url);

interface Target {
  expr: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Target[];
}

/** A metric a query reads, and the label names it matches on or groups by. */
interface Selector {
  metric: string;
  labels: string[];
  where: string;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan']);

/** The metric selectors of a PromQL expression (enough of PromQL for dashboards: no subqueries or strings outside matchers). */
export function selectorsOf(expr: string, where: string): Selector[] {
  const out: Selector[] = [];
  const grouped: string[] = [];
  let rest = expr.replace(/\$\{?\w+\}?/g, '1'); // Grafana variables ($__range_s, $hostname in matchers stay quoted)
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw: string, names: string) => {
    grouped.push(
      ...names
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean),
    );
    return ' ';
  });
  rest = rest.replace(/\[[^\]]*\]/g, ' ');
  const re = /(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?/g;
  for (const m of rest.matchAll(re)) {
    const [, name, braces, call] = m;
    if (call !== undefined && braces === undefined) continue; // a function
    if (KEYWORDS.has(name!.toLowerCase()) || /^\d/.test(name!)) continue;
    const labels = [...(braces ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)].map((x) => x[1]!);
    out.push({ metric: name!, labels: [...labels, ...grouped], where });
  }
  return out;
}

function everySelector(dash: { panels: Panel[]; templating: { list: Array<{ name: string; type: string; definition?: string }> } }): Selector[] {
  const out: Selector[] = [];
  for (const p of dash.panels) for (const t of p.targets ?? []) out.push(...selectorsOf(t.expr, `panel '${p.title}'`));
  for (const v of dash.templating.list) {
    if (v.type !== 'query') continue;
    const m = /^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(v.definition ?? '');
    expect(m, `variable $${v.name}: ${v.definition}`).not.toBeNull();
    out.push(...selectorsOf(m![1]!, `variable $${v.name}`).map((s) => ({ ...s, labels: [...s.labels, m![2]!] })));
  }
  return out;
}

let t: TestServer;
let client: ProtocolClient;
let families: Map<string, ParsedFamily>;

beforeAll(async () => {
  t = await startTestServer();
  const key = await enrollTestNode(t, 'dash-node');
  client = await ProtocolClient.connect(t.url);
  await client.hello(key);
  // Everything nvidia-smi reports for an H100 (the agent's nvidia collector reads these).
  const gpus = [0, 1].map((index) =>
    testGpuSample(index, {
      memoryTemperatureC: 38,
      remappedRowsCorrectable: 0,
      remappedRowsUncorrectable: 0,
      pcieReplayCount: 3,
      throttleReasons: ['sw_power_cap'],
    }),
  );
  client.send({
    t: 'metrics',
    body: { ts: Date.now(), host: { cpuPct: 1, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] }, gpus },
  });
  const deadline = Date.now() + 5000;
  let text = '';
  while (Date.now() < deadline) {
    text = (await t.api('GET', '/metrics')).text;
    if (/DCGM_FI_DEV_GPU_TEMP\{/.test(text)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  families = checkExposition(text);
});
afterAll(async () => {
  client?.close();
  await t?.close();
});

describe('docs/grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));

  it('queries only metrics gpufleet writes, with the labels it filters and groups by', () => {
    const selectors = everySelector(dash);
    expect(selectors.length).toBeGreaterThan(25);
    for (const s of selectors) {
      const fam = families.get(s.metric);
      expect(fam, `${s.where} reads ${s.metric}, which /metrics does not write`).toBeDefined();
      expect(fam!.samples.length, `${s.where}: ${s.metric} has no samples`).toBeGreaterThan(0);
      for (const label of s.labels) {
        expect(
          fam!.samples.some((x) => x.labels.some(([n]) => n === label)),
          `${s.where}: ${s.metric} has no '${label}' label`,
        ).toBe(true);
      }
    }
  });

  it('covers the dcgm-exporter dashboard topics, filtered by $hostname and $gpu', () => {
    const titles = dash.panels
      .filter((p: Panel) => p.type !== 'row')
      .map((p: Panel) => p.title.toLowerCase())
      .join('\n');
    for (const topic of [
      'temperature',
      'power',
      'energy',
      'utilization',
      'framebuffer',
      'sm clocks',
      'memory clocks',
      'xid',
      'ecc',
      'pcie',
      'remapped rows',
      'throttle',
    ])
      expect(titles).toContain(topic);
    expect(dash.templating.list.map((v: { name: string }) => v.name)).toEqual(['datasource', 'hostname', 'gpu']);
    for (const p of dash.panels as Panel[]) {
      for (const target of p.targets ?? []) {
        if (target.expr.includes('DCGM_FI_')) expect(target.expr, p.title).toMatch(/hostname=~"\$hostname", gpu=~"\$gpu"/);
      }
    }
    const ids = dash.panels.map((p: Panel) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('selectorsOf', () => {
  it('finds metrics and label names, not functions, keywords, ranges or variables', () => {
    expect(selectorsOf('sum by (hostname, gpu) (avg_over_time(DCGM_FI_DEV_POWER_USAGE{hostname=~"$hostname"}[$__range])) * $__range_s / 3600', 'x')).toEqual([
      { metric: 'DCGM_FI_DEV_POWER_USAGE', labels: ['hostname', 'hostname', 'gpu'], where: 'x' },
    ]);
    expect(selectorsOf('100 * a_b{x="1"} / c:d and bool e', 'y').map((s) => s.metric)).toEqual(['a_b', 'c:d', 'e']);
    expect(selectorsOf('rate(nothing_here[5m]) offset 5m', 'z').map((s) => s.metric)).toEqual(['nothing_here']);
  });
});
