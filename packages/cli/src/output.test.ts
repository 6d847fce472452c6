import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { fitWidths, parseOutputFormat, print, renderData, renderTable, type Column } from './output.js';
import { bar, formatBytes, formatBytesPair, formatPct, formatTemp, formatWatts, relativeTime } from './units.js';
import { captureIo } from './testing/capture-io.js';
import { UsageError } from './errors.js';

interface Row {
  name: string;
  labels: string;
  util: string;
}

const columns: Column<Row>[] = [
  { header: 'NAME', get: (r) => r.name },
  { header: 'UTIL', get: (r) => r.util, align: 'right' },
  { header: 'LABELS', get: (r) => r.labels, wide: true },
];

const rows: Row[] = [
  { name: 'gpu-node-01', labels: 'region=eu,rack=r12,team=vision,tier=spot', util: '7%' },
  { name: 'a-much-longer-hostname-in-the-datacenter.example.com', labels: 'region=us', util: '100%' },
];

describe('renderTable', () => {
  it('prints a header and one line per row, wide columns only with wide', () => {
    const narrow = renderTable(columns, rows).trimEnd().split('\n');
    expect(narrow).toHaveLength(3);
    expect(narrow[0]).toMatch(/^NAME\s+UTIL$/);
    expect(narrow.join('\n')).not.toContain('LABELS');
    const wide = renderTable(columns, rows, { wide: true });
    expect(wide).toContain('LABELS');
    expect(wide).toContain('region=eu,rack=r12,team=vision,tier=spot');
  });

  it('right-aligns numeric columns', () => {
    const lines = renderTable(columns, rows).trimEnd().split('\n');
    const utilEnd = lines.map((l) => l.length);
    // Every line ends where the UTIL column ends.
    expect(new Set(utilEnd).size).toBe(1);
    expect(lines[1]!.endsWith('  7%')).toBe(true);
  });

  it.each([30, 40, 60, 80])('fits a %i-column terminal, truncating long cells with an ellipsis', (width) => {
    const out = renderTable(columns, rows, { width, wide: true });
    for (const line of out.trimEnd().split('\n')) expect([...line].length).toBeLessThanOrEqual(width);
    expect(out).toContain('…');
    // Short cells survive; the long ones give way first.
    expect(out).toContain('100%');
  });

  it('leaves lines whole when there is room or no limit', () => {
    const out = renderTable(columns, rows, { wide: true });
    expect(out).toContain('a-much-longer-hostname-in-the-datacenter.example.com');
    expect(out).not.toContain('…');
  });

  it('keeps a cell on one line even when the text has newlines', () => {
    const out = renderTable(columns, [{ name: 'a\nb', labels: '', util: '1%' }]);
    expect(out.trimEnd().split('\n')).toHaveLength(2);
  });
});

describe('fitWidths', () => {
  it('shrinks the widest column first and never below the minimum', () => {
    expect(fitWidths([10, 50, 8], [6, 6, 6], 40)).toEqual([10, 22, 8]);
    expect(fitWidths([10, 50, 8], [6, 6, 6], 10)).toEqual([6, 6, 6]);
    expect(fitWidths([10, 50], [6, 6], undefined)).toEqual([10, 50]);
  });
});

describe('renderData and print', () => {
  const data = { items: [{ id: 'a', n: 1, gone: null }], total: 1 };

  it('prints pretty JSON that parses back to the data', () => {
    const text = renderData(data, 'json');
    expect(text).toContain('\n  "items"');
    expect(JSON.parse(text)).toEqual(data);
  });

  it('prints YAML that parses back to the data', () => {
    const text = renderData(data, 'yaml');
    expect(text).toMatch(/^items:/);
    expect(parseYaml(text)).toEqual(data);
  });

  it('sends the data for json and the table for people', () => {
    const io = captureIo({ columns: 80 });
    print(io, 'json', { data, columns, rows });
    expect(JSON.parse(io.stdout)).toEqual(data);
    const io2 = captureIo({ columns: 80 });
    print(io2, 'table', { data, columns, rows });
    expect(io2.stdout).toMatch(/^NAME/);
  });

  it('says so on stderr instead of printing an empty table', () => {
    const io = captureIo();
    print(io, 'table', { data: { items: [] }, columns, rows: [], empty: 'no nodes match' });
    expect(io.stdout).toBe('');
    expect(io.stderr).toBe('no nodes match\n');
  });

  it('refuses an unknown format', () => {
    expect(parseOutputFormat('yaml')).toBe('yaml');
    expect(parseOutputFormat(undefined)).toBe('table');
    expect(() => parseOutputFormat('xml')).toThrow(UsageError);
  });
});

describe('units', () => {
  it('prints bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(80 * 2 ** 30)).toBe('80 GiB');
    expect(formatBytes(81559 * 2 ** 20)).toBe('79.6 GiB');
    expect(formatBytes(512 * 2 ** 30)).toBe('512 GiB');
    expect(formatBytes(3 * 2 ** 40)).toBe('3 TiB');
    expect(formatBytes(null)).toBe('-');
    expect(formatBytes(Number.NaN)).toBe('-');
  });

  it('prints used/total in the total unit', () => {
    expect(formatBytesPair(12.5 * 2 ** 30, 80 * 2 ** 30)).toBe('12.5/80 GiB');
    expect(formatBytesPair(null, 80 * 2 ** 30)).toBe('?/80 GiB');
    expect(formatBytesPair(null, null)).toBe('-');
  });

  it('prints percent, temperature and power', () => {
    expect(formatPct(87.4)).toBe('87%');
    expect(formatPct(null)).toBe('-');
    expect(formatTemp(64.6)).toBe('65°C');
    expect(formatWatts(312.2)).toBe('312 W');
    expect(formatWatts(312.2, 700)).toBe('312/700 W');
    expect(formatWatts(undefined, 700)).toBe('-');
  });

  it('prints relative times', () => {
    const now = Date.UTC(2025, 0, 1, 12);
    expect(relativeTime(new Date(now - 2000).toISOString(), now)).toBe('just now');
    expect(relativeTime(new Date(now - 42_000).toISOString(), now)).toBe('42s ago');
    expect(relativeTime(new Date(now - 3 * 60_000).toISOString(), now)).toBe('3m ago');
    expect(relativeTime(now - 5 * 3_600_000, now)).toBe('5h ago');
    expect(relativeTime(now - 2 * 86_400_000, now)).toBe('2d ago');
    expect(relativeTime(now + 23 * 3_600_000 + 5000, now)).toBe('in 23h');
    expect(relativeTime(null, now)).toBe('never');
    expect(relativeTime('yesterday-ish', now)).toBe('-');
  });

  it('draws bars clamped to 0–100', () => {
    expect(bar(50, 10)).toBe('█████░░░░░');
    expect(bar(150, 4)).toBe('████');
    expect(bar(-5, 4)).toBe('░░░░');
    expect(bar(null, 3)).toBe('···');
  });
});
