import { describe, expect, it } from 'vitest';
import { formatSpan, relativeTime } from './units.js';

describe('durations never round down', () => {
  const now = Date.UTC(2026, 0, 1, 12);

  it('shows a token made with --expires 24h, read seconds later, as in 1d (not 23h)', () => {
    expect(relativeTime(now + 24 * 3_600_000 - 5_000, now)).toBe('in 1d');
    expect(relativeTime(new Date(now + 24 * 3_600_000 - 90_000).toISOString(), now)).toBe('in 1d');
  });

  it('rounds each unit to the nearest and carries into the next', () => {
    expect(formatSpan(59_600)).toBe('1m');
    expect(formatSpan(59 * 60_000 + 45_000)).toBe('1h');
    expect(formatSpan(90 * 60_000)).toBe('2h');
    expect(formatSpan(7 * 86_400_000 - 60_000)).toBe('7d');
    expect(formatSpan(23 * 3_600_000 + 20 * 60_000)).toBe('23h');
    expect(formatSpan(23 * 3_600_000 + 40 * 60_000)).toBe('1d');
    expect(formatSpan(48 * 3_600_000 - 1000)).toBe('2d');
    expect(relativeTime(now - (3 * 60_000 - 2_000), now)).toBe('3m ago');
    expect(relativeTime(now + 7 * 86_400_000 - 10_000, now)).toBe('in 7d');
  });

  it('keeps what already read right', () => {
    expect(relativeTime(now - 42_000, now)).toBe('42s ago');
    expect(relativeTime(now - 4_000, now)).toBe('just now');
    expect(relativeTime(now + 23 * 3_600_000 + 5000, now)).toBe('in 23h');
    expect(relativeTime(now - 2 * 86_400_000, now)).toBe('2d ago');
    expect(relativeTime('garbage', now)).toBe('-');
    expect(relativeTime(undefined, now)).toBe('never');
  });
});
