import { describe, expect, it } from 'vitest';
import { fixturePath, readFixture } from '../../../agent/src/testing/fixtures.js';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

const LEADING = ['vendor', 'index', 'uuid', 'name', 'pciBusId', 'memoryTotalBytes', 'driverVersion', 'temperatureC', 'utilizationPct', 'memoryUsedBytes', 'powerDrawW'];

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
    expect(g).toMatchObject({ vendor: 'nvidia', index: 0, name: 'NVIDIA RTX 4000 SFF Ada Generation', uuid: 'GPU-37037c3f-65c8-ec4d-24a9-420204ad8026', pciBusId: '0000:06:00.0', driverVersion: '595.84', temperatureC: 38, memoryTotalBytes: 20475 * 2 ** 20 });
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
