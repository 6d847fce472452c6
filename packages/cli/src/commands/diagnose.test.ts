import { describe, expect, it } from 'vitest';
import { fixturePath, readFixture } from '../../../agent/src/testing/fixtures.js';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

const LEADING = [
  'vendor',
  'index',
  'uuid',
  'name',
  'pciBusId',
  'memoryTotalBytes',
  'driverVersion',
  'temperatureC',
  'utilizationPct',
  'memoryUsedBytes',
  'powerDrawW',
];

async function diagnose(args: string[], stdin?: string) {
  const io = captureIo({ columns: 200, ...(stdin === undefined ? {} : { stdin }) });
  const code = await runCli(['diagnose', 'gpus', ...args], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

async function json(format: string, ...file: string[]) {
  const r = await diagnose(['--format', format, '--from', fixturePath(...file), '-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { gpus: Record<string, unknown>[] };
  for (const g of out.gpus) {
    // The documented fields lead, in order, and a field the tool lacks is null, never missing.
    expect(Object.keys(g).slice(0, LEADING.length)).toEqual(LEADING);
    for (const k of LEADING) expect(g[k]).not.toBeUndefined();
  }
  return out.gpus;
}

describe('diagnose gpus on real tool outputs', () => {
  it('nvidia-xml: nvidia-smi -q -x of an RTX 4000 SFF Ada', async () => {
    const [g, ...rest] = await json('nvidia-xml', 'nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml');
    expect(rest).toHaveLength(0);
    expect(g).toMatchObject({
      vendor: 'nvidia',
      index: 0,
      name: 'NVIDIA RTX 4000 SFF Ada Generation',
      uuid: 'GPU-37037c3f-65c8-ec4d-24a9-420204ad8026',
      pciBusId: '0000:06:00.0',
      driverVersion: '595.84',
      temperatureC: 38,
      memoryTotalBytes: 20475 * 2 ** 20,
    });
  });

  it.each([
    ['nvidia-smi_query-gpu_csv_allfields__nvidia-l40s__595.80__load.csv', 'NVIDIA L40S'],
    ['nvidia-smi_query-gpu_csv_allfields__nvidia-h100-80gb-hbm3__590.48.01__load.csv', 'NVIDIA H100 80GB HBM3'],
  ])('nvidia-csv: %s', async (file, name) => {
    const gpus = await json('nvidia-csv', 'nvidia', file);
    expect(gpus).toHaveLength(1);
    expect(gpus[0]).toMatchObject({ vendor: 'nvidia', index: 0, name });
    expect(gpus[0]!.memoryTotalBytes).toBeGreaterThan(40 * 2 ** 30);
    expect(typeof gpus[0]!.utilizationPct).toBe('number');
  });

  it('amd-smi-json: a power-only `amd-smi metric -p --json` record has nulls elsewhere', async () => {
    const gpus = await json('amd-smi-json', 'amd', 'amd-smi_metric_-p_json__pre-v26-list-format_amdsmi-CHANGELOG.json');
    expect(gpus).toHaveLength(1);
    expect(gpus[0]).toMatchObject({ vendor: 'amd', index: 0, powerDrawW: 10, uuid: null, pciBusId: null, temperatureC: null });
  });

  it('rocm-smi-json: an RX 6700 XT', async () => {
    const gpus = await json('rocm-smi-json', 'amd', 'rocm-smi_json__RX6700XT_rocm6.1.2_telegraf.json');
    expect(gpus).toHaveLength(1);
    expect(gpus[0]).toMatchObject({ vendor: 'amd', name: 'Navi 22 [Radeon RX 6700/6700 XT / 6800M]' });
  });

  it('xpu-smi-json: xpu-smi discovery -j', async () => {
    const gpus = await json('xpu-smi-json', 'intel', 'xpu-smi_discovery_-j__xpumanager-doc.json');
    expect(gpus.length).toBeGreaterThan(0);
    expect(gpus[0]).toMatchObject({ vendor: 'intel', uuid: '00000000-0000-0000-0000-020a00008086' });
  });

  it.each([
    ['npu-smi_info__2x_910B4_with_process_section_npu-smi-25.5.2.txt', 2],
    ['npu-smi_info__Ascend910_dual-chip_Phy-ID_partial_npu-smi-26.0.rc2.txt', 2],
  ])('npu-smi: %s', async (file, count) => {
    const gpus = await json('npu-smi', 'huawei', file);
    expect(gpus).toHaveLength(count);
    for (const g of gpus) expect(g.vendor).toBe('huawei');
  });

  it('reads the 910B4 bus ids and HBM from npu-smi info', async () => {
    const gpus = await json('npu-smi', 'huawei', 'npu-smi_info__2x_910B4_with_process_section_npu-smi-25.5.2.txt');
    expect(gpus.map((g) => g.pciBusId)).toEqual(['0000:41:00.0', '0000:42:00.0']);
    expect(gpus[0]!.memoryTotalBytes).toBe(32768 * 2 ** 20);
  });

  it('prints a table by default with human units', async () => {
    const r = await diagnose(['--format', 'nvidia-xml', '--from', fixturePath('nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml')]);
    expect(r.code).toBe(0);
    const [head, row] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^INDEX\s+VENDOR\s+NAME\s+PCI BUS\s+MEMORY\s+UTIL\s+TEMP\s+POWER\s+DRIVER$/);
    expect(row).toContain('NVIDIA RTX 4000 SFF Ada Generation');
    expect(row).toContain('3.5/20 GiB');
    expect(row).toContain('38°C');
  });

  it('reads stdin with --from -', async () => {
    const r = await diagnose(['--format', 'rocm-smi-json', '--from', '-', '-o', 'yaml'], readFixture('amd', 'rocm-smi_json__RX6700XT_rocm6.1.2_telegraf.json'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^gpus:\n {2}- vendor: amd/);
  });
});

describe('diagnose gpus on the wrong input', () => {
  it.each([
    ['nvidia-xml', 'amd', 'rocm-smi_json__RX6700XT_rocm6.1.2_telegraf.json', '`nvidia-smi -q -x` XML'],
    ['nvidia-csv', 'nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml', 'nvidia-smi --query-gpu'],
    ['rocm-smi-json', 'amd', 'amd-smi_metric_-p_json__pre-v26-list-format_amdsmi-CHANGELOG.json', '`rocm-smi ... --json`'],
    ['amd-smi-json', 'amd', 'rocm-smi_json__RX6700XT_rocm6.1.2_telegraf.json', '`amd-smi metric/static --json`'],
    ['xpu-smi-json', 'intel', 'xpu-smi_discovery_table__xpumanager-doc.txt', '`xpu-smi discovery -j` JSON'],
    ['npu-smi', 'nvidia', 'nvidia-smi_table__4x_A100_SXM4_555.42.02__idle.txt', '`npu-smi info` text'],
  ])('--format %s on %s/%s: exit 2, one line naming the format', async (format, dir, file, what) => {
    const r = await diagnose(['--format', format, '--from', fixturePath(dir, file)]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toContain(what);
    expect(r.stderr).toContain(`--format ${format}`);
  });

  it('refuses a missing file and an empty stdin', async () => {
    const missing = await diagnose(['--format', 'npu-smi', '--from', '/nonexistent/npu.txt']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('error: cannot read /nonexistent/npu.txt: ENOENT\n');
    const empty = await diagnose(['--format', 'nvidia-xml', '--from', '-'], '  \n');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe('error: stdin is empty: expected `nvidia-smi -q -x` XML\n');
  });

  it('refuses binary garbage on stdin', async () => {
    const r = await diagnose(['--format', 'xpu-smi-json', '--from', '-'], '\u0000\u0001\u00ff{{{');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: stdin is not `xpu-smi discovery -j` JSON/);
  });
});

async function kmsg(args: string[], stdin?: string) {
  const io = captureIo({ columns: 200, ...(stdin === undefined ? {} : { stdin }) });
  const code = await runCli(['diagnose', 'kmsg', ...args], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const KMSG_FIELDS = ['kind', 'code', 'pciBusId', 'gpuInstance', 'pid', 'process', 'message', 'severity', 'action', 'description', 'line'];

async function kmsgJson(...file: string[]) {
  const r = await kmsg([fixturePath(...file), '-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { events: Record<string, unknown>[] };
  for (const e of out.events) expect(Object.keys(e)).toEqual(KMSG_FIELDS);
  return out.events;
}

describe('diagnose kmsg on the kernel fixtures', () => {
  it('kmsg_nvrm_xid119_gsp_timeout_gpud.log: five Xid 119 and the GSP rate-limit notice', async () => {
    const events = await kmsgJson('kernel', 'kmsg_nvrm_xid119_gsp_timeout_gpud.log');
    expect(events.map((e) => `${e.kind}:${e.code}`)).toEqual(['xid:119', 'xid:119', 'xid:119', 'driver:null', 'xid:119', 'xid:119']);
    expect(events[0]).toEqual({
      kind: 'xid',
      code: 119,
      pciBusId: '0000:9b:00.0',
      gpuInstance: null,
      pid: 2024380,
      process: 'nvidia-smi',
      message: 'Timeout after 6s of waiting for RPC response from GPU4 GSP! Expected function 103 (GSP_RM_ALLOC) (0x2081 0x4).',
      severity: 'critical',
      action: 'RESET_GPU',
      description: 'GSP RPC Timeout',
      line: '[Sun Feb 23 16:24:18 2025] NVRM: Xid (PCI:0000:9b:00): 119, pid=2024380, name=nvidia-smi, Timeout after 6s of waiting for RPC response from GPU4 GSP! Expected function 103 (GSP_RM_ALLOC) (0x2081 0x4).',
    });
    expect(events[3]).toMatchObject({ kind: 'driver', code: null, pciBusId: '0000:9b:00.0', severity: 'warning', action: null });
  });

  it('kmsg_dmesg_decode_iso_xid13_gpud.log: sixteen Xid 13 then an Xid 43', async () => {
    const events = await kmsgJson('kernel', 'kmsg_dmesg_decode_iso_xid13_gpud.log');
    expect(events).toHaveLength(17);
    expect(events[0]).toMatchObject({
      kind: 'xid',
      code: 13,
      pciBusId: '0000:38:00.0',
      pid: null,
      process: null,
      severity: 'warning',
      action: 'RESTART_APP',
      description: 'Graphics Engine Exception',
    });
    expect(events[16]).toMatchObject({ code: 43, pid: 2924364, process: 'pt_main_thread', message: 'Ch 00000008', severity: 'info', action: 'IGNORE' });
  });

  it('dev_kmsg_nvidia_peermem_gpud.log: the peermem errors as driver events', async () => {
    const events = await kmsgJson('kernel', 'dev_kmsg_nvidia_peermem_gpud.log');
    expect(events).toHaveLength(7);
    expect(events[0]).toMatchObject({ kind: 'driver', code: null, severity: 'warning', description: 'nvidia-peermem (GPUDirect RDMA) reported an error' });
  });

  it('nv-fabricmanager_log_gpud.log: the NVSwitch error as an SXid from the SXid catalog', async () => {
    const events = await kmsgJson('kernel', 'nv-fabricmanager_log_gpud.log');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'sxid', code: 12028, pciBusId: '0000:86:00.0', action: null });
    expect(typeof events[0]!.description).toBe('string');
  });

  it('dev_kmsg_raw_format_gpud.log: no GPU events, an empty list, and a note on stderr for people', async () => {
    expect(await kmsgJson('kernel', 'dev_kmsg_raw_format_gpud.log')).toEqual([]);
    const r = await kmsg([fixturePath('kernel', 'dev_kmsg_raw_format_gpud.log')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`no GPU events in ${fixturePath('kernel', 'dev_kmsg_raw_format_gpud.log')}\n`);
  });

  it('reads the jsonl lines from stdin: fallen-off-bus forms are 79, SXids use the SXid catalog', async () => {
    const lines = readFixture('kernel', 'nvrm-xid-lines.jsonl')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { line: string }).line);
    const r = await kmsg(['-', '-o', 'json'], `${lines.join('\n')}\n`);
    expect(r.code).toBe(0);
    const events = (JSON.parse(r.stdout) as { events: Record<string, unknown>[] }).events;
    // One event per record: the 21 Xid lines, the multi-line fallen-off-bus, 3 SXid, 3 driver messages.
    expect(events).toHaveLength(28);
    const fallen = events.find((e) => e.kind === 'fallen-off-bus')!;
    expect(fallen).toMatchObject({ code: 79, pciBusId: '0000:b3:00.0', severity: 'critical', action: 'RESTART_BM', description: 'GPU has fallen off the bus' });
    expect(fallen.line).toContain('\n');
    const sxid = events.find((e) => e.kind === 'sxid' && e.code === 20034)!;
    expect(sxid).toMatchObject({ pciBusId: '0000:06:00.0', severity: 'critical', description: 'LTSSM Fault Up', message: 'Fatal, Link 48 LTSSM Fault Up' });
    expect(events.filter((e) => e.kind === 'xid').map((e) => e.code)).toEqual([
      13, 13, 13, 109, 43, 31, 31, 62, 45, 31, 32, 79, 79, 119, 94, 95, 95, 45, 149, 145, 144,
    ]);
  });

  it('prints a table by default, more with -o wide', async () => {
    const file = fixturePath('kernel', 'kmsg_dmesg_decode_iso_xid13_gpud.log');
    const r = await kmsg([file]);
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^KIND\s+CODE\s+PCI BUS\s+SEVERITY\s+ACTION\s+DESCRIPTION\s+PROCESS$/);
    expect(rows).toHaveLength(18);
    expect(rows[17]).toMatch(/^xid\s+43\s+0000:38:00\.0\s+info\s+IGNORE\s+GPU stopped processing\s+pt_main_thread\[2924364\]$/);
    const wide = await kmsg([file, '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).toMatch(/GPU-I\s+MESSAGE$/);
  });

  it('refuses a missing file, and finds nothing in garbage', async () => {
    const missing = await kmsg(['/nonexistent/kern.log']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('error: cannot read /nonexistent/kern.log: ENOENT\n');
    const garbage = await kmsg(['-', '-o', 'json'], '\u0000\u0001\u00ff{{{\nNVRM: Xid (\n');
    expect(garbage.code).toBe(0);
    expect(JSON.parse(garbage.stdout)).toEqual({ events: [] });
    const noArg = await kmsg([]);
    expect(noArg.code).toBe(2);
  });
});
