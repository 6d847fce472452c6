// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import {
  formatAbsolute,
  formatBytes,
  formatBytesOf,
  formatBytesUsage,
  formatDuration,
  formatPct,
  formatRelative,
  formatTemp,
  formatWatts,
  shortModel,
} from './format.js';

describe('formatters', () => {
  it('writes bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(80 * 1024 ** 3)).toBe('80 GiB');
    expect(formatBytes(1.5 * 1024 ** 4)).toBe('1.5 TiB');
    expect(formatBytesOf(12 * 1024 ** 3, 80 * 1024 ** 3)).toBe('12 / 80 GiB');
    expect(formatBytesOf(null, 80 * 1024 ** 3)).toBe('— / 80 GiB');
  });
  it('writes usage with both units and the share', () => {
    expect(formatBytesUsage(9.5 * 1024 ** 3, 64 * 1024 ** 3)).toBe('9.5 GiB of 64 GiB (15%)');
    expect(formatBytesUsage(1.5 * 1024 ** 4, 2 * 1024 ** 4)).toBe('1.5 TiB of 2 TiB (75%)');
    expect(formatBytesUsage(null, 64 * 1024 ** 3)).toBe('— of 64 GiB');
    expect(formatBytesUsage(-1, 64 * 1024 ** 3)).toBe('— of 64 GiB');
    expect(formatBytesUsage(5 * 1024 ** 3, 0)).toBe('5 GiB');
    expect(formatBytesUsage(Number.NaN, Number.NaN)).toBe('—');
  });
  it('writes percent, °C, W and kW', () => {
    expect(formatPct(42.6)).toBe('43%');
    expect(formatTemp(71.2)).toBe('71 °C');
    expect(formatWatts(350.4)).toBe('350 W');
    expect(formatWatts(12_345)).toBe('12.3 kW');
  });
  it('turns garbage into a dash, never NaN or a crash', () => {
    for (const bad of [null, undefined, NaN, Infinity, 'x' as unknown as number]) {
      expect(formatPct(bad)).toBe('—');
      expect(formatTemp(bad)).toBe('—');
      expect(formatWatts(bad)).toBe('—');
      expect(formatBytes(bad)).toBe('—');
    }
    expect(formatBytes(-1)).toBe('—');
    expect(formatRelative('not a date', Date.now())).toBe('—');
    expect(formatAbsolute('garbage')).toBe('—');
    expect(formatDuration(-5)).toBe('—');
  });
  it('writes relative times both ways', () => {
    const now = Date.parse('2025-01-01T12:00:00Z');
    expect(formatRelative(now - 2000, now)).toBe('just now');
    expect(formatRelative(now - 30_000, now)).toBe('30 s ago');
    expect(formatRelative('2025-01-01T11:55:00Z', now)).toBe('5 min ago');
    expect(formatRelative(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(formatRelative(now - 2 * 86_400_000, now)).toBe('2 d ago');
    expect(formatRelative(now + 600_000, now)).toBe('in 10 min');
  });
  it('writes durations and absolute times', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(185_000)).toBe('3 min 5 s');
    expect(formatDuration(2 * 3_600_000 + 600_000)).toBe('2 h 10 min');
    const t = new Date(2025, 2, 4, 13, 5, 9).getTime();
    expect(formatAbsolute(t)).toBe('2025-03-04 13:05:09');
  });
  it('drops the vendor from model names', () => {
    expect(shortModel('NVIDIA H100 80GB HBM3')).toBe('H100 80GB HBM3');
    expect(shortModel('AMD Instinct MI300X')).toBe('Instinct MI300X');
    expect(shortModel(null)).toBe('unknown');
  });
});
