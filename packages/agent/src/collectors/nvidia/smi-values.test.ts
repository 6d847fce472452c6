import { describe, expect, it } from 'vitest';
import {
  activeOf,
  bytesOf,
  celsiusOf,
  cleanValue,
  countOf,
  enabledOf,
  mhzOf,
  parseQuantity,
  percentOf,
  slug,
  sumKnown,
  throttleReasonOf,
  throttleReasonsOfMask,
  wattsOf,
  yesNoOf,
} from './smi-values.js';

describe('nvidia-smi values', () => {
  it('reads every way nvidia-smi says "no value" as null', () => {
    for (const none of [
      'N/A',
      '[N/A]',
      '[Not Supported]',
      'Not Supported',
      'Requested functionality has been deprecated',
      '[Requested functionality has been deprecated]',
      'Unknown Error',
      '[Unknown Error]',
      '[GPU requires reset]',
      '',
      '   ',
      null,
      undefined,
    ]) {
      expect(cleanValue(none), String(none)).toBeNull();
    }
    expect(cleanValue('  REDACTED ')).toBe('REDACTED');
    expect(cleanValue('None')).toBe('None');
  });

  it('splits numbers from units', () => {
    expect(parseQuantity('81559 MiB')).toEqual({ value: 81559, unit: 'MiB' });
    expect(parseQuantity('100.00%')).toEqual({ value: 100, unit: '%' });
    expect(parseQuantity('-7 C')).toEqual({ value: -7, unit: 'C' });
    expect(parseQuantity('16x')).toEqual({ value: 16, unit: 'x' });
    expect(parseQuantity('0x233010DE')).toBeNull();
    expect(parseQuantity('P0')).toBeNull();
    expect(parseQuantity('[N/A]')).toBeNull();
  });

  it('converts to fixed units: bytes, watts, degrees C, MHz, percent 0-100', () => {
    expect(bytesOf('81559 MiB')).toBe(81559 * 1048576);
    expect(bytesOf('81559')).toBe(81559 * 1048576);
    expect(bytesOf('2 GiB')).toBe(2 * 1024 ** 3);
    expect(bytesOf('12 parsecs')).toBeNull();
    expect(wattsOf('629.45 W')).toBe(629.45);
    expect(wattsOf('350.00')).toBe(350);
    expect(wattsOf('350 MHz')).toBeNull();
    expect(celsiusOf('38 C')).toBe(38);
    expect(celsiusOf('38 F')).toBeNull();
    expect(mhzOf('2619 MHz')).toBe(2619);
    expect(percentOf('45 %')).toBe(45);
    expect(percentOf('45')).toBe(45);
    expect(percentOf('101 %')).toBeNull();
    expect(percentOf('-1 %')).toBeNull();
  });

  it('reads counters, flags and modes', () => {
    expect(countOf('0')).toBe(0);
    expect(countOf('12')).toBe(12);
    expect(countOf('1.5')).toBeNull();
    expect(countOf('-3')).toBeNull();
    expect(countOf('3 us')).toBeNull();
    expect(yesNoOf('Yes')).toBe(true);
    expect(yesNoOf('No')).toBe(false);
    expect(yesNoOf('N/A')).toBeNull();
    expect(enabledOf('Enabled')).toBe('enabled');
    expect(enabledOf('Disabled')).toBe('disabled');
    expect(enabledOf('[N/A]')).toBeNull();
    expect(activeOf('Active')).toBe(true);
    expect(activeOf('Not Active')).toBe(false);
    expect(activeOf('N/A')).toBeNull();
    expect(sumKnown([null, 2, null, 3])).toBe(5);
    expect(sumKnown([null, null])).toBeNull();
  });

  it('slugs text and XML spellings of a key to the same thing', () => {
    expect(slug('SRAM Uncorrectable SEC-DED')).toBe(slug('sram_uncorrectable_secded'));
    expect(slug('FB Memory Usage')).toBe(slug('fb_memory_usage'));
  });

  it('names clocks-event reasons from XML, text and CSV spellings', () => {
    expect(throttleReasonOf('clocks_event_reason_gpu_idle')).toBe('gpu_idle');
    expect(throttleReasonOf('clocks_event_reason_sw_power_cap')).toBe('sw_power_cap');
    expect(throttleReasonOf('clocks_throttle_reason_sw_thermal_slowdown')).toBe('sw_thermal_slowdown');
    expect(throttleReasonOf('clocks_event_reason_display_clocks_setting')).toBe('display_clock_setting');
    expect(throttleReasonOf('Idle')).toBe('gpu_idle');
    expect(throttleReasonOf('HW Power Brake Slowdown')).toBe('hw_power_brake_slowdown');
    expect(throttleReasonOf('Display Clock Setting')).toBe('display_clock_setting');
    expect(throttleReasonOf('clocks_event_reasons.sync_boost')).toBe('sync_boost');
    expect(throttleReasonOf('clocks_throttle_reasons.applications_clocks_setting')).toBe('applications_clocks_setting');
    expect(throttleReasonOf('clocks_event_reasons_counters.sw_power_cap')).toBeNull();
    expect(throttleReasonOf('clocks_event_reasons.supported')).toBeNull();
  });

  it('decodes the clocks-event bitmask with NVIDIA bit values', () => {
    const cases: Array<[string, string[]]> = [
      ['0x0000000000000000', []],
      ['0x0000000000000001', ['gpu_idle']],
      ['0x0000000000000002', ['applications_clocks_setting']],
      ['0x0000000000000004', ['sw_power_cap']],
      ['0x0000000000000008', ['hw_slowdown']],
      ['0x0000000000000010', ['sync_boost']],
      ['0x0000000000000020', ['sw_thermal_slowdown']],
      ['0x0000000000000040', ['hw_thermal_slowdown']],
      ['0x0000000000000080', ['hw_power_brake_slowdown']],
      ['0x0000000000000100', ['display_clock_setting']],
      ['0x00000000000000C8', ['hw_slowdown', 'hw_thermal_slowdown', 'hw_power_brake_slowdown']],
      [
        '0x1FF',
        [
          'gpu_idle',
          'applications_clocks_setting',
          'sw_power_cap',
          'hw_slowdown',
          'hw_thermal_slowdown',
          'hw_power_brake_slowdown',
          'sw_thermal_slowdown',
          'sync_boost',
          'display_clock_setting',
        ],
      ],
    ];
    for (const [mask, reasons] of cases) expect(throttleReasonsOfMask(mask), mask).toEqual(reasons);
    expect(throttleReasonsOfMask('[N/A]')).toBeNull();
    expect(throttleReasonsOfMask('Not Active')).toBeNull();
    expect(throttleReasonsOfMask('0x12345678901234567')).toBeNull();
  });
});
