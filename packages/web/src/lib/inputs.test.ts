// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { checkSelector } from './selector.js';
import { labelsToText, parseLabelsText } from './labels-text.js';
import { combinedSelector, pagesFor, visibleRange } from './windowing.js';
import { retryDelayMs, StreamRegistry } from './sse.js';
import { NODE_STATUSES, RUN_TARGET_STATES } from './constants.js';
import { NODE_STATUSES as P_NODE_STATUSES, RUN_TARGET_STATES as P_RUN_STATES } from '@gpufleet/protocol';

describe('selector box checks', () => {
  it('accepts the CLI syntax and blank', () => {
    for (const ok of ['', '  ', 'gpu.model=H100', 'zone in (a,b),!maintenance', 'a!=b,c']) expect(checkSelector(ok)).toBeNull();
  });
  it('explains what is wrong with garbage', () => {
    for (const bad of ['=x', 'a in (', 'zone in a,b)', '!!', 'bad key=1']) {
      const err = checkSelector(bad);
      expect(err, bad).toEqual(expect.any(String));
      expect(err!.length).toBeGreaterThan(5);
    }
  });
  it('ANDs the vendor filter onto the typed selector', () => {
    expect(combinedSelector('', '')).toBe('');
    expect(combinedSelector('zone=a ', '')).toBe('zone=a');
    expect(combinedSelector('', 'amd')).toBe('gpu.vendor=amd');
    expect(combinedSelector('zone=a', 'nvidia')).toBe('zone=a,gpu.vendor=nvidia');
    expect(checkSelector(combinedSelector('zone=a', 'nvidia'))).toBeNull();
  });
});

describe('labels text', () => {
  it('parses k=v lists and writes them back sorted', () => {
    const r = parseLabelsText(' zone=a, rack=r12 ,');
    expect(r).toEqual({ ok: true, labels: { zone: 'a', rack: 'r12' } });
    expect(labelsToText({ zone: 'a', rack: 'r12' })).toBe('rack=r12,zone=a');
    expect(parseLabelsText('')).toEqual({ ok: true, labels: {} });
  });
  it('rejects garbage with a reason', () => {
    expect(parseLabelsText('novalue')).toMatchObject({ ok: false, error: expect.stringContaining('key=value') });
    expect(parseLabelsText('=x')).toMatchObject({ ok: false });
    expect(parseLabelsText('bad key=x')).toMatchObject({ ok: false, error: expect.stringContaining('label key') });
    expect(parseLabelsText('k=bad value')).toMatchObject({ ok: false, error: expect.stringContaining('label value') });
    expect(parseLabelsText('k=a,k=b')).toMatchObject({ ok: false, error: expect.stringContaining('twice') });
  });
});

describe('windowing', () => {
  it('renders only the rows in view plus overscan', () => {
    expect(visibleRange(0, 400, 40, 10_000, 5)).toEqual({ start: 0, end: 15 });
    expect(visibleRange(40_000, 400, 40, 10_000, 5)).toEqual({ start: 995, end: 1015 });
    expect(visibleRange(399_900, 400, 40, 10_000, 5)).toEqual({ start: 9992, end: 10_000 });
    expect(visibleRange(0, 400, 40, 0)).toEqual({ start: 0, end: 0 });
    expect(visibleRange(-50, NaN, 40, 100, 0).start).toBe(0);
  });
  it('asks for the pages that hold the rows', () => {
    expect(pagesFor(0, 15, 200)).toEqual([0]);
    expect(pagesFor(190, 215, 200)).toEqual([0, 1]);
    expect(pagesFor(5, 5, 200)).toEqual([]);
  });
});

describe('live streams', () => {
  it('backs off 1 s, 2 s, 4 s ... to at most 15 s', () => {
    expect([0, 1, 2, 3, 4, 5, 50].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
  });
  it('is live only when every stream is', () => {
    const r = new StreamRegistry();
    let calls = 0;
    r.subscribe(() => calls++);
    const a = r.add('connecting');
    expect(r.overall()).toBe('connecting');
    r.set(a, 'live');
    expect(r.overall()).toBe('live');
    const b = r.add('live');
    r.set(b, 'reconnecting');
    expect(r.overall()).toBe('reconnecting');
    r.remove(b);
    expect(r.overall()).toBe('live');
    expect(calls).toBe(5);
  });
  it('keeps its copies of the protocol lists equal to the protocol', () => {
    expect([...NODE_STATUSES]).toEqual([...P_NODE_STATUSES]);
    expect([...RUN_TARGET_STATES]).toEqual([...P_RUN_STATES]);
  });
});
