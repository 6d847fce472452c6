import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { matchesSilence, SilenceBook, SILENCES_SETTING } from './silences.js';
import { MemorySettings, T0 } from './__tests__/alert-fixtures.js';

const HOUR = 3_600_000;
const input = (over: Partial<Parameters<SilenceBook['create']>[0]> = {}) => ({
  matchers: [{ name: 'alertname', value: 'Hot' }],
  endsAt: T0 + HOUR,
  comment: 'c',
  createdBy: 'token:ops',
  ...over,
});

describe('SilenceBook', () => {
  it('stores silences and reads them back after a restart', async () => {
    const settings = new MemorySettings();
    const book = new SilenceBook({ settings });
    const a = await book.create(input(), T0);
    const b = await book.create(input({ matchers: [{ name: 'node', value: 'n1', op: '!=' }] }), T0 + 1);
    await book.expire(a.id, T0 + 2);
    const again = new SilenceBook({ settings });
    await again.load();
    expect(again.list(T0 + 3).map((s) => [s.id, again.isActive(s, T0 + 3)])).toEqual([
      [b.id, true],
      [a.id, false],
    ]);
    expect(again.matching({ alertname: 'Hot', node: 'n2' }, T0 + 3)).toEqual([b.id]);
    expect(again.matching({ alertname: 'Hot', node: 'n1' }, T0 + 3)).toEqual([]);
  });

  it('starts empty from damaged stored data and skips damaged entries', async () => {
    const warnings: string[] = [];
    const log = { warn: (_: object, msg: string) => warnings.push(msg), info: () => undefined };
    const settings = new MemorySettings();
    settings.values.set(SILENCES_SETTING, '{oops');
    const broken = new SilenceBook({ settings, log });
    await broken.load();
    expect(broken.list(T0)).toEqual([]);
    const good = { id: 'sil_1', matchers: [{ name: 'alertname', value: 'Hot' }], startsAt: T0, endsAt: T0 + HOUR, createdBy: 'x', comment: 'y' };
    settings.values.set(SILENCES_SETTING, JSON.stringify([good, { id: 'sil_2', matchers: 'all' }, 42]));
    const partly = new SilenceBook({ settings, log });
    await partly.load();
    expect(partly.list(T0).map((s) => s.id)).toEqual(['sil_1']);
    expect(warnings).toEqual([
      'stored alert silences are not JSON; starting without them',
      'skipping a damaged stored alert silence',
      'skipping a damaged stored alert silence',
    ]);
  });

  it('makes nothing when the store refuses the write', async () => {
    const settings = new MemorySettings();
    const book = new SilenceBook({ settings });
    const kept = await book.create(input(), T0);
    settings.setSetting = async () => {
      throw new Error('disk full');
    };
    await expect(book.create(input(), T0)).rejects.toThrow('disk full');
    await expect(book.expire(kept.id, T0 + 1)).rejects.toThrow('disk full');
    expect(book.list(T0 + 1).map((s) => [s.id, book.isActive(s, T0 + 1)])).toEqual([[kept.id, true]]);
  });

  it('refuses silences that end in the past or too late, too many, and bad expiries', async () => {
    const book = new SilenceBook({ maxActive: 2 });
    await expect(book.create(input({ endsAt: T0 }), T0)).rejects.toThrow(/would end in the past/);
    await expect(book.create(input({ endsAt: T0 + 366 * 24 * HOUR }), T0)).rejects.toThrow(/at most 365d/);
    const s = await book.create(input(), T0);
    await book.create(input(), T0);
    const err = await book.create(input(), T0).catch((e: unknown) => e);
    expect(FleetError.is(err, 'failed_precondition') && (err as Error).message).toMatch(/already 2 active silences/);
    await expect(book.expire('sil_missing', T0)).rejects.toThrow(/no silence 'sil_missing'/);
    await book.expire(s.id, T0 + 5);
    await expect(book.expire(s.id, T0 + 6)).rejects.toThrow(/already expired/);
  });

  it('forgets expired silences after the retention', async () => {
    const settings = new MemorySettings();
    const book = new SilenceBook({ settings, expiredRetentionMs: HOUR });
    await book.create(input({ endsAt: T0 + 10 }), T0);
    expect(book.prune(T0 + HOUR + 9)).toBe(false);
    expect(book.prune(T0 + HOUR + 10)).toBe(true);
    expect(book.list(T0 + HOUR + 10)).toEqual([]);
    await book.flushed();
    expect(JSON.parse(settings.values.get(SILENCES_SETTING)!)).toEqual([]);
  });

  it('matches every matcher: = and !=, a missing label counts as empty', () => {
    const s = {
      id: 'x',
      matchers: [
        { name: 'alertname', value: 'Hot' },
        { name: 'gpu', value: 'GPU-1', op: '!=' as const },
      ],
      startsAt: 0,
      endsAt: 1,
      createdBy: '',
      comment: '',
    };
    expect(matchesSilence(s, { alertname: 'Hot', gpu: 'GPU-2' })).toBe(true);
    expect(matchesSilence(s, { alertname: 'Hot' })).toBe(true);
    expect(matchesSilence(s, { alertname: 'Hot', gpu: 'GPU-1' })).toBe(false);
    expect(matchesSilence(s, { alertname: 'Cold', gpu: 'GPU-2' })).toBe(false);
  });
});
