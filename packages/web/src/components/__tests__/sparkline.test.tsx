// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { Sparkline, sparklineGeometry } from '../sparkline.js';

afterEach(cleanup);

const pct = (v: number) => `${Math.round(v)}%`;
const pointsOf = (svg: Element) => [...svg.querySelectorAll('polyline')].map((p) => p.getAttribute('points'));

describe('sparklineGeometry', () => {
  it('spreads values across the box, oldest left, bigger values higher', () => {
    // 104 wide with 2 px padding: x = 2, 52, 102; 0-100 domain over 20 - 4 = 16 px of height.
    const g = sparklineGeometry([0, 50, 100], 104, 20, { domain: [0, 100] });
    expect(g.lines).toEqual(['2,18 52,10 102,2']);
    expect(g).toMatchObject({ min: 0, max: 100, lastValue: 100, count: 3, last: { x: 102, y: 2 }, dots: [] });
  });

  it('splits the line at gaps and draws lone values as dots', () => {
    const g = sparklineGeometry([10, 20, null, 30, null, 40, 50], 64, 20, { domain: [0, 100] });
    expect(g.lines).toHaveLength(2);
    expect(g.lines[0]!.split(' ')).toHaveLength(2);
    expect(g.dots).toEqual([{ x: 32, y: 13.2 }]);
    expect(g.count).toBe(5);
    expect(g.lastValue).toBe(50);
  });

  it('draws a flat series as a level line in the middle when it has no fixed range', () => {
    const g = sparklineGeometry([71, 71, 71, 71], 64, 20);
    const ys = new Set(g.lines[0]!.split(' ').map((p) => p.split(',')[1]));
    expect([...ys]).toEqual(['10']);
  });

  it('keeps small wobbles small with minSpan', () => {
    const [narrow] = sparklineGeometry([70, 71], 64, 20).lines;
    const [wide] = sparklineGeometry([70, 71], 64, 20, { minSpan: 10 }).lines;
    const rise = (line: string) => Math.abs(Number(line.split(' ')[0]!.split(',')[1]) - Number(line.split(' ')[1]!.split(',')[1]));
    expect(rise(narrow!)).toBe(16);
    expect(rise(wide!)).toBeCloseTo(1.6, 5);
  });

  it('has nothing to draw for an empty or all-gap series', () => {
    for (const values of [[], [null, null]]) expect(sparklineGeometry(values, 64, 20)).toMatchObject({ lines: [], dots: [], last: null, count: 0 });
  });
});

describe('<Sparkline>', () => {
  it('draws a polyline and summarises min, max and last for screen readers', () => {
    render(<Sparkline values={[12, 80, null, 45]} label="Mean GPU utilization" span="last 15 minutes" format={pct} tone="util" domain={[0, 100]} testId="s" />);
    const svg = screen.getByRole('img', { name: 'Mean GPU utilization, last 15 minutes: min 12%, max 80%, last 45%' });
    expect(svg.querySelector('title')?.textContent).toBe(svg.getAttribute('aria-label'));
    expect(pointsOf(svg)).toHaveLength(1);
    expect(svg.querySelectorAll('circle.sparkline-dot')).toHaveLength(1);
    expect(svg.querySelector('circle.sparkline-last')).not.toBeNull();
    expect(svg.getAttribute('data-count')).toBe('3');
    expect(svg.getAttribute('class')).toContain('sparkline-util');
  });

  it('says there is no data for an empty series and draws nothing', () => {
    render(<Sparkline values={[null, null, null]} label="Hottest GPU temperature" span="last 15 minutes" format={(v) => `${v} °C`} tone="temp" testId="s" />);
    const svg = screen.getByTestId('s');
    expect(svg.getAttribute('aria-label')).toBe('Hottest GPU temperature: no readings in the last 15 minutes');
    expect(svg.querySelectorAll('polyline, circle')).toHaveLength(0);
  });

  it('draws a flat series as one level line', () => {
    render(<Sparkline values={[60, 60, 60]} label="t" span="s" format={String} tone="temp" minSpan={10} testId="s" />);
    const [points] = pointsOf(screen.getByTestId('s'));
    expect(new Set(points!.split(' ').map((p) => p.split(',')[1])).size).toBe(1);
    expect(screen.getByTestId('s').getAttribute('aria-label')).toBe('t, s: min 60, max 60, last 60');
  });
});
