import { describe, expect, it } from 'vitest';
import { ToolFailure } from '@gpufleet/protocol';
import { listFixtures, readFixture } from '../../testing/fixtures.js';
import { classifyNvidiaSmiFailure } from './classify-failure.js';

/** The recorded broken-driver outputs: every line of the file that is not a `#` comment. */
const RECORDED = readFixture('nvidia', 'nvidia-smi_error_outputs.txt')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'));

// What each recorded output must be reported as, in file order.
const EXPECTED: RegExp[] = [
  /^NVIDIA driver not loaded: nvidia-smi could not communicate with the NVIDIA driver$/,
  /^NVIDIA driver\/library version mismatch: /,
  /^GPU 0000:0b:00\.0 is unreachable: Unknown Error$/,
  /^GPU 0000:91:00\.0 is unreachable: Unknown Error$/,
  /^GPU 0000:02:00\.0 is lost \(fallen off the bus\); reboot the system to recover it$/,
  /^no NVIDIA GPUs found/,
];

describe('classifyNvidiaSmiFailure', () => {
  it('has an expectation for every recorded error output', () => {
    expect(RECORDED).toHaveLength(EXPECTED.length);
  });

  RECORDED.forEach((output, i) => {
    it(`recognises: ${output.slice(0, 70)}`, () => {
      const failure = classifyNvidiaSmiFailure(`${output}\n`, 9);
      expect(failure).not.toBeNull();
      expect(ToolFailure.parse(failure)).toEqual(failure);
      expect(failure!.vendor).toBe('nvidia');
      expect(failure!.tool).toBe('nvidia-smi');
      expect(failure!.exitCode).toBe(9);
      expect(failure!.message).toMatch(EXPECTED[i]!);
      // The same words are a failure even when nvidia-smi exits 0.
      expect(classifyNvidiaSmiFailure(output, 0)?.message).toBe(failure!.message);
    });
  });

  it('returns null for every recorded normal output with exit code 0', () => {
    const normal = [
      ...listFixtures('nvidia', /^nvidia-smi_-q__.*\.txt$/),
      ...listFixtures('nvidia', /^nvidia-smi_query-gpu_csv.*$/),
      ...listFixtures('nvidia', /^nvidia-smi_table__.*\.txt$/),
      'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml',
    ];
    expect(normal.length).toBeGreaterThan(8);
    for (const file of normal) expect(classifyNvidiaSmiFailure(readFixture('nvidia', file), 0), file).toBeNull();
  });

  it('does not mistake a field value for a failure line', () => {
    const report = 'GPU 00000000:18:00.0\n    Fan Speed                             : Unknown Error\n    Serial Number : No devices were found\n';
    expect(classifyNvidiaSmiFailure(report, 0)).toBeNull();
    expect(classifyNvidiaSmiFailure('Unknown Error\n', 255)?.message).toBe('nvidia-smi failed with "Unknown Error"');
  });

  it('names a query field the driver does not know', () => {
    const failure = classifyNvidiaSmiFailure('Field "clocks_event_reasons.active" is not a valid field to query.\n\n', 2);
    expect(failure?.message).toBe('nvidia-smi does not know the query field "clocks_event_reasons.active" (driver too old for it)');
  });

  it('reports other NVML initialisation failures and a missing NVML library', () => {
    expect(classifyNvidiaSmiFailure('Failed to initialize NVML: Insufficient Permissions', 4)?.message).toBe(
      'NVML failed to initialize: Insufficient Permissions',
    );
    expect(
      classifyNvidiaSmiFailure(
        "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display Driver is properly installed and present in your system.",
        12,
      )?.message,
    ).toMatch(/^NVML library \(libnvidia-ml\.so\) not found/);
  });

  it('joins distinct failures and reports each once', () => {
    const both = [RECORDED[2], RECORDED[4], RECORDED[2]].join('\n');
    expect(classifyNvidiaSmiFailure(both, 15)?.message).toBe(
      'GPU 0000:0b:00.0 is unreachable: Unknown Error; GPU 0000:02:00.0 is lost (fallen off the bus); reboot the system to recover it',
    );
  });

  it('reports an unrecognised non-zero exit with the start of the output', () => {
    expect(classifyNvidiaSmiFailure('Segmentation fault\ncore dumped\n', 139)).toEqual({
      vendor: 'nvidia',
      tool: 'nvidia-smi',
      message: 'nvidia-smi exited with code 139: Segmentation fault | core dumped',
      exitCode: 139,
    });
    expect(classifyNvidiaSmiFailure('', 1)?.message).toBe('nvidia-smi exited with code 1 and printed nothing');
  });

  it('reports a run without an exit code (killed by a signal)', () => {
    const failure = classifyNvidiaSmiFailure('', null);
    expect(failure).toEqual({
      vendor: 'nvidia',
      tool: 'nvidia-smi',
      message: 'nvidia-smi ended without an exit code (killed?) and printed nothing',
      exitCode: null,
    });
  });

  it('keeps the message within the protocol limit for huge or binary output', () => {
    const huge = `${'x'.repeat(10_000)}\n`.repeat(3);
    const failure = classifyNvidiaSmiFailure(huge, 3);
    expect(failure!.message.length).toBeLessThanOrEqual(4096);
    expect(ToolFailure.parse(failure)).toEqual(failure);
    const junk = String.fromCharCode(...Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256));
    expect(ToolFailure.safeParse(classifyNvidiaSmiFailure(junk, 1)).success).toBe(true);
    expect(classifyNvidiaSmiFailure(junk, 0)).toBeNull();
  });
});
