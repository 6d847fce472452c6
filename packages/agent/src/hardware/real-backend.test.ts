import { GpuSnapshot, HostFacts, HostSample, ToolFailure } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { readFixture } from '../testing/fixtures.js';
import type { GpuReadout } from './backend.js';
import { RealHardwareBackend } from './real-backend.js';
import type { RunToolOptions, ToolExec, ToolResult } from './tool-runner.js';

type Reply = ToolResult | ((args: string[]) => ToolResult);

/**
 * A stand-in for runTool: answers by command and the first argument(s) (`'nvidia-smi -q'`,
 * `'nvidia-smi --query-gpu'`, `'amd-smi static'`...), `missing` for any tool not scripted,
 * and records every call.
 */
function fakeExec(script: Record<string, Reply>): { exec: ToolExec; calls: string[]; options: RunToolOptions[] } {
  const calls: string[] = [];
  const options: RunToolOptions[] = [];
  const exec: ToolExec = async (command, args, opts) => {
    const line = [command, ...args].join(' ');
    calls.push(line);
    options.push(opts);
    const key = Object.keys(script)
      .filter((k) => line === k || line.startsWith(`${k} `) || line.startsWith(`${k}=`))
      .sort((a, b) => b.length - a.length)[0];
    if (key === undefined) return { kind: 'missing' };
    const reply = script[key]!;
    return typeof reply === 'function' ? reply(args) : reply;
  };
  return { exec, calls, options };
}

const ok = (stdout: string): ToolResult => ({ kind: 'ok', stdout, stderr: '' });
const failed = (output: string, exitCode: number | null, timedOut = false): ToolResult => ({ kind: 'failed', exitCode, output, timedOut });

const RTX_XML = readFixture('nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml');
const RTX_UUID = 'GPU-37037c3f-65c8-ec4d-24a9-420204ad8026';
const NVIDIA_ERRORS = readFixture('nvidia', 'nvidia-smi_error_outputs.txt')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'));

// `--query-gpu=<NVIDIA_QUERY_FIELDS> --format=csv,nounits` on the same RTX 4000, under load.
const CSV_HEADER =
  'index, uuid, name, pci.bus_id, serial, driver_version, vbios_version, memory.total [MiB], memory.used [MiB], utilization.gpu [%], utilization.memory [%], temperature.gpu, temperature.memory, power.draw [W], power.limit [W], enforced.power.limit [W], clocks.current.sm [MHz], clocks.current.memory [MHz], fan.speed [%], ecc.mode.current, ecc.errors.corrected.volatile.total, ecc.errors.uncorrected.volatile.total, ecc.errors.corrected.aggregate.total, ecc.errors.uncorrected.aggregate.total, retired_pages.single_bit_ecc.count, retired_pages.double_bit.count, retired_pages.pending, remapped_rows.correctable, remapped_rows.uncorrectable, remapped_rows.pending, remapped_rows.failure, clocks_event_reasons.active, mig.mode.current';
const csvRow = (uuid: string) =>
  `0, ${uuid}, NVIDIA RTX 4000 SFF Ada Generation, 00000000:06:00.0, REDACTED, 595.84, 95.04.53.00.01, 20475, 9000, 93, 41, 71, N/A, 67.25, 70.00, 70.00, 2655, 8250, 55, Disabled, [N/A], [N/A], [N/A], [N/A], [N/A], [N/A], [N/A], 0, 0, No, No, 0x0000000000000004, [N/A]`;
const RTX_CSV = `${CSV_HEADER}\n${csvRow(RTX_UUID)}\n`;

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_700_000_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** Every readout the backend gives must be valid on the wire. */
function expectValid(r: GpuReadout): void {
  for (const s of r.snapshots) expect(GpuSnapshot.safeParse(s).error).toBeUndefined();
  for (const f of r.failures) expect(ToolFailure.safeParse(f).error).toBeUndefined();
}

describe('RealHardwareBackend: NVIDIA', () => {
  it('reads the full XML report on the first pass', async () => {
    const fake = fakeExec({ 'nvidia-smi -q -x': ok(RTX_XML) });
    const backend = new RealHardwareBackend({ agentVersion: 't', exec: fake.exec, now: clock().now });
    const r = await backend.gpus();
    expectValid(r);
    expect(r.failures).toEqual([]);
    expect(r.snapshots).toHaveLength(1);
    expect(r.snapshots[0]).toMatchObject({
      vendor: 'nvidia',
      uuid: RTX_UUID,
      name: 'NVIDIA RTX 4000 SFF Ada Generation',
      pciBusId: '0000:06:00.0',
      runtimeVersion: '13.2',
      temperatureC: 38,
      throttleReasons: ['gpu_idle'],
    });
    expect(fake.calls).toContain('nvidia-smi -q -x');
    expect(fake.calls.some((c) => c.includes('--query-gpu'))).toBe(false);
    // Tools run in the C locale so numbers parse.
    expect(fake.options.every((o) => o.env?.LC_ALL === 'C' && o.timeoutMs === 15_000)).toBe(true);
  });

  it('uses the CSV query between full reports, merged onto the XML by UUID, and refreshes after 60 s', async () => {
    const t = clock();
    const fake = fakeExec({ 'nvidia-smi -q -x': ok(RTX_XML), 'nvidia-smi --query-gpu': ok(RTX_CSV) });
    const backend = new RealHardwareBackend({ agentVersion: 't', exec: fake.exec, now: t.now });
    const first = (await backend.gpus()).snapshots[0]!;

    t.advance(10_000);
    const second = await backend.gpus();
    expectValid(second);
    const csvCall = fake.calls.filter((c) => c.startsWith('nvidia-smi'))[1]!;
    expect(csvCall).toMatch(/^nvidia-smi --query-gpu=index,uuid,.*,clocks_event_reasons\.active,mig\.mode\.current --format=csv,nounits$/);
    expect(second).toEqual({
      snapshots: [
        {
          ...first,
          // Readings from the CSV...
          temperatureC: 71,
          utilizationPct: 93,
          memoryUtilizationPct: 41,
          memoryUsedBytes: 9000 * 2 ** 20,
          powerDrawW: 67.25,
          smClockMhz: 2655,
          memClockMhz: 8250,
          fanPct: 55,
          throttleReasons: ['sw_power_cap'],
          // ...and what only the XML knows (CUDA version) is kept.
          runtimeVersion: '13.2',
        },
      ],
      failures: [],
    });

    t.advance(49_000);
    await backend.gpus();
    expect(fake.calls.filter((c) => c === 'nvidia-smi -q -x')).toHaveLength(1);
    t.advance(1_000);
    await backend.gpus();
    expect(fake.calls.filter((c) => c === 'nvidia-smi -q -x')).toHaveLength(2);
  });

  it('re-reads the full report at once when the CSV shows another set of GPUs', async () => {
    const t = clock();
    const fake = fakeExec({
      'nvidia-smi -q -x': ok(RTX_XML),
      'nvidia-smi --query-gpu': ok(`${CSV_HEADER}\n${csvRow('GPU-00000000-new0-0000-0000-000000000000')}\n`),
    });
    const backend = new RealHardwareBackend({ agentVersion: 't', exec: fake.exec, now: t.now });
    await backend.gpus();
    t.advance(10_000);
    const r = await backend.gpus();
    const nvidiaCalls = fake.calls.filter((c) => c.startsWith('nvidia-smi')).map((c) => c.split(' ')[1]!.split('=')[0]);
    expect(nvidiaCalls).toEqual(['-q', '--query-gpu', '-q']);
    // The answer is the fresh full report's.
    expect(r.snapshots.map((s) => s.uuid)).toEqual([RTX_UUID]);
  });

  it('turns each recorded broken-driver output into a ToolFailure, never a throw', async () => {
    expect(NVIDIA_ERRORS.length).toBeGreaterThanOrEqual(6);
    for (const output of NVIDIA_ERRORS) {
      const fake = fakeExec({ 'nvidia-smi': failed(output, 9) });
      const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
      expectValid(r);
      expect(r.snapshots).toEqual([]);
      expect(r.failures).toHaveLength(1);
      expect(r.failures[0]).toMatchObject({ vendor: 'nvidia', tool: 'nvidia-smi', exitCode: 9 });
    }
    const fake = fakeExec({ 'nvidia-smi': failed(NVIDIA_ERRORS[1]!, 18) });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expect(r.failures[0]!.message).toMatch(/version mismatch/i);
  });

  it('reports a timeout, garbage output and an unreadable CSV as failures, then starts again from the XML', async () => {
    const t = clock();
    const csv: ToolResult = ok('this is not CSV at all\x00\x01');
    const fake = fakeExec({ 'nvidia-smi -q -x': ok(RTX_XML), 'nvidia-smi --query-gpu': () => csv });
    const backend = new RealHardwareBackend({ agentVersion: 't', exec: fake.exec, now: t.now });
    await backend.gpus();
    t.advance(10_000);
    const garbage = await backend.gpus();
    expectValid(garbage);
    expect(garbage.snapshots).toEqual([]);
    expect(garbage.failures).toEqual([expect.objectContaining({ vendor: 'nvidia', tool: 'nvidia-smi', exitCode: 0 })]);
    expect(garbage.failures[0]!.message).toMatch(/could not be read/);
    // The next pass reads the XML again rather than trusting an old inventory.
    t.advance(10_000);
    expect((await backend.gpus()).snapshots).toHaveLength(1);
    expect(fake.calls.filter((c) => c === 'nvidia-smi -q -x')).toHaveLength(2);

    const slow = fakeExec({ 'nvidia-smi': failed('', null, true) });
    const timedOut = await new RealHardwareBackend({ agentVersion: 't', exec: slow.exec, toolTimeoutMs: 250 }).gpus();
    expect(timedOut.failures).toEqual([{ vendor: 'nvidia', tool: 'nvidia-smi', message: 'nvidia-smi -q -x timed out after 250 ms', exitCode: null }]);
  });

  it('falls back to the pre-r535 throttle field name when the driver refuses the new one', async () => {
    const t = clock();
    const fake = fakeExec({
      'nvidia-smi -q -x': ok(RTX_XML),
      'nvidia-smi --query-gpu': (args) =>
        args[0]!.includes('clocks_event_reasons.active')
          ? failed('Field "clocks_event_reasons.active" is not a valid field to query.', 2)
          : ok(RTX_CSV.replace('clocks_event_reasons.active', 'clocks_throttle_reasons.active')),
    });
    const backend = new RealHardwareBackend({ agentVersion: 't', exec: fake.exec, now: t.now });
    await backend.gpus();
    t.advance(10_000);
    const r = await backend.gpus();
    expect(r.failures).toEqual([]);
    expect(r.snapshots[0]).toMatchObject({ temperatureC: 71, throttleReasons: ['sw_power_cap'] });
    t.advance(10_000);
    await backend.gpus();
    // Once learnt, the old name is asked for straight away.
    const queries = fake.calls.filter((c) => c.includes('--query-gpu'));
    expect(queries.map((q) => q.includes('clocks_throttle_reasons.active'))).toEqual([false, true, true]);
  });

  it('cuts a huge failure output to what a ToolFailure may carry', async () => {
    const fake = fakeExec({ 'nvidia-smi': failed('x'.repeat(100_000), 1) });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expectValid(r);
    expect(r.failures[0]!.message.length).toBeLessThanOrEqual(4096);
  });
});

describe('RealHardwareBackend: AMD, Intel, Huawei', () => {
  it('falls back to rocm-smi when amd-smi is not installed', async () => {
    const fake = fakeExec({ 'rocm-smi': ok(readFixture('amd', 'rocm-smi_json__RX6700XT_rocm6.1.2_telegraf.json')) });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expectValid(r);
    expect(r.failures).toEqual([]);
    expect(r.snapshots).toHaveLength(1);
    expect(r.snapshots[0]).toMatchObject({ vendor: 'amd', pciBusId: '0000:07:00.0', name: 'Navi 22 [Radeon RX 6700/6700 XT / 6800M]', temperatureC: 47 });
    expect(fake.calls).toContain('rocm-smi -a --json');
  });

  it('merges amd-smi metric onto amd-smi static, reading static only on the first pass', async () => {
    const t = clock();
    // `amd-smi static --json` in the pre-26 list format, trimmed to its identity blocks.
    const STATIC = JSON.stringify([{ gpu: 0, asic: { market_name: 'AMD Instinct MI300X', asic_serial: '0xA1B2C3D4E5F60718' }, bus: { bdf: '0000:0c:00.0' } }]);
    const fake = fakeExec({
      'amd-smi static': ok(STATIC),
      'amd-smi metric': ok(readFixture('amd', 'amd-smi_metric_-p_json__pre-v26-list-format_amdsmi-CHANGELOG.json')),
    });
    const backend = new RealHardwareBackend({ agentVersion: 't', exec: fake.exec, now: t.now });
    const r = await backend.gpus();
    expectValid(r);
    expect(r.failures).toEqual([]);
    expect(r.snapshots).toHaveLength(1);
    expect(r.snapshots[0]).toMatchObject({
      vendor: 'amd',
      index: 0,
      uuid: '0xA1B2C3D4E5F60718',
      name: 'AMD Instinct MI300X',
      pciBusId: '0000:0c:00.0',
      powerDrawW: 10,
    });
    t.advance(10_000);
    expect((await backend.gpus()).snapshots[0]).toMatchObject({ pciBusId: '0000:0c:00.0', powerDrawW: 10 });
    expect(fake.calls.filter((c) => c.startsWith('amd-smi'))).toEqual(['amd-smi static --json', 'amd-smi metric --json', 'amd-smi metric --json']);
    expect(fake.calls).not.toContain('rocm-smi -a --json');
  });

  it('reports a failing amd-smi without falling back', async () => {
    const fake = fakeExec({ 'amd-smi': failed('ERROR:root:Unable to detect any GPU devices, check amdgpu version and module status', 1) });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expect(r.snapshots).toEqual([]);
    expect(r.failures).toEqual([expect.objectContaining({ vendor: 'amd', tool: 'amd-smi', exitCode: 1 })]);
    expect(r.failures[0]!.message).toContain('Unable to detect any GPU devices');
  });

  it('reads Intel GPUs from xpu-smi discovery and one dump sample', async () => {
    const fake = fakeExec({
      'xpu-smi discovery': ok(readFixture('intel', 'xpu-smi_discovery_-j__xpumanager-doc.json')),
      'xpu-smi dump': ok(readFixture('intel', 'xpu-smi_dump_-m0,1,2_csv__xpumanager-doc.csv')),
    });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expectValid(r);
    expect(r.failures).toEqual([]);
    expect(r.snapshots).toHaveLength(1);
    expect(r.snapshots[0]).toMatchObject({
      vendor: 'intel',
      uuid: '00000000-0000-0000-0000-020a00008086',
      pciBusId: '0000:4d:00.0',
      utilizationPct: 0,
      powerDrawW: 14.61,
      smClockMhz: 0,
    });
    expect(fake.calls).toContain('xpu-smi dump -d 0 -m 0,1,2,3,4,5,17,18 -n 1');
  });

  it('keeps the Intel devices and reports the failure when the dump fails', async () => {
    const fake = fakeExec({
      'xpu-smi discovery': ok(readFixture('intel', 'xpu-smi_discovery_-j__xpumanager-doc.json')),
      'xpu-smi dump': failed('Error: Level Zero initialization error', 1),
    });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expectValid(r);
    expect(r.snapshots.map((s) => [s.uuid, s.powerDrawW])).toEqual([['00000000-0000-0000-0000-020a00008086', null]]);
    expect(r.failures).toEqual([expect.objectContaining({ vendor: 'intel', tool: 'xpu-smi', exitCode: 1 })]);
  });

  it('reads Ascend NPUs from npu-smi info', async () => {
    const fake = fakeExec({ 'npu-smi info': ok(readFixture('huawei', 'npu-smi_info__2x_910B4_with_process_section_npu-smi-25.5.2.txt')) });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expectValid(r);
    expect(r.failures).toEqual([]);
    expect(r.snapshots.map((s) => [s.vendor, s.index, s.pciBusId, s.powerDrawW])).toEqual([
      ['huawei', 0, '0000:41:00.0', 89.9],
      ['huawei', 1, '0000:42:00.0', 89.9],
    ]);
  });

  it('turns npu-smi garbage into a failure', async () => {
    const fake = fakeExec({ 'npu-smi info': ok('dcmi model initialized failed, because the device is used. ret is -8020') });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expectValid(r);
    expect(r.snapshots).toEqual([]);
    expect(r.failures).toEqual([expect.objectContaining({ vendor: 'huawei', tool: 'npu-smi', exitCode: 0 })]);
  });
});

describe('RealHardwareBackend: several vendors and no vendors', () => {
  it('returns every vendor in a fixed order, failures beside snapshots', async () => {
    const fake = fakeExec({
      'nvidia-smi -q -x': ok(RTX_XML),
      'npu-smi info': ok(readFixture('huawei', 'npu-smi_info__2x_910B4_with_process_section_npu-smi-25.5.2.txt')),
      'xpu-smi discovery': failed('xpum daemon is not running', 1),
    });
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expectValid(r);
    expect(r.snapshots.map((s) => s.vendor)).toEqual(['nvidia', 'huawei', 'huawei']);
    expect(r.failures.map((f) => f.vendor)).toEqual(['intel']);
  });

  it('is empty with no failures when no tool is installed, after trying each', async () => {
    const fake = fakeExec({});
    const r = await new RealHardwareBackend({ agentVersion: 't', exec: fake.exec }).gpus();
    expect(r).toEqual({ snapshots: [], failures: [] });
    expect(new Set(fake.calls.map((c) => c.split(' ')[0]))).toEqual(new Set(['nvidia-smi', 'amd-smi', 'rocm-smi', 'xpu-smi', 'npu-smi']));
  });

  it('never throws, even when the runner itself rejects', async () => {
    const exec: ToolExec = async () => {
      throw new Error('spawn went wrong');
    };
    const r = await new RealHardwareBackend({ agentVersion: 't', exec }).gpus();
    expectValid(r);
    expect(r.snapshots).toEqual([]);
    expect(r.failures.map((f) => f.vendor)).toEqual(['nvidia', 'amd', 'intel', 'huawei']);
    expect(r.failures[0]!.message).toContain('spawn went wrong');
  });

  it('shares one pass between overlapping callers', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const exec: ToolExec = async (command) => {
      if (command === 'nvidia-smi') {
        runs++;
        await gate;
        return ok(RTX_XML);
      }
      return { kind: 'missing' };
    };
    const backend = new RealHardwareBackend({ agentVersion: 't', exec });
    const a = backend.gpus();
    const b = backend.gpus();
    release();
    const [ra, rb] = await Promise.all([a, b]);
    expect(runs).toBe(1);
    expect(ra).toBe(rb);
    await backend.gpus();
    expect(runs).toBe(2);
  });
});

describe('RealHardwareBackend on this machine', () => {
  it('finds no GPUs on a host without vendor tools, and reads host facts and samples', async () => {
    const backend = new RealHardwareBackend({ agentVersion: 't' });
    const r = await backend.gpus();
    expect(r.snapshots).toEqual([]);
    expect(r.failures).toEqual([]);
    const facts = await backend.hostFacts();
    expect(HostFacts.parse(facts).agentVersion).toBe('t');
    expect(facts.cpu.threads).toBeGreaterThan(0);
    const sample = await backend.hostSample();
    expect(HostSample.parse(sample).memoryTotalBytes).toBe(facts.memoryTotalBytes);
  });
});
