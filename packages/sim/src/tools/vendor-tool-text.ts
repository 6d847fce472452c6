import type { GpuSnapshot } from '@gpufleet/protocol';
import type { GpuModelSpec } from '../gpu-models.js';

/**
 * What a simulated host's vendor tools print, laid out as the recorded outputs under
 * shared/fixtures show them (nvidia-smi_table__8x_H100_SXM_565.57.01__idle.txt, the `-L`
 * section of the capture bundles, amd-smi's `list`), filled with the fake backend's GPUs.
 */

const MiB = 2 ** 20;

/** `nvidia-smi -L`: one line per GPU with its UUID. */
export function nvidiaSmiList(gpus: readonly GpuSnapshot[]): string {
  return gpus.map((g) => `GPU ${g.index}: ${g.name ?? 'NVIDIA GPU'} (UUID: ${g.uuid ?? 'N/A'})\n`).join('');
}

/** `0000:18:00.0` -> `00000000:18:00.0`, nvidia-smi's own spelling (eight-digit domain, upper case). */
export function nvidiaBusId(pciBusId: string | null): string {
  if (!pciBusId) return 'N/A';
  const m = /^([0-9a-f]{4,8}):([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/i.exec(pciBusId);
  return m ? `${m[1]!.padStart(8, '0')}:${m[2]!}`.toUpperCase() : pciBusId;
}

const RULE = `+${'-'.repeat(41)}+${'-'.repeat(24)}+${'-'.repeat(22)}+`;
const row = (a: string, b: string, c: string) => `|${a.padEnd(41).slice(0, 41)}|${b.padStart(24).slice(-24)}|${c.padStart(22).slice(-22)}|`;
const wide = (text: string) => `|${text.padEnd(89).slice(0, 89)}|`;
const na = (v: number | null | undefined, f: (n: number) => string) => (typeof v === 'number' && Number.isFinite(v) ? f(v) : 'N/A');

/** Plain `nvidia-smi`: the summary table with one three-line block per GPU and an empty process list. */
export function nvidiaSmiTable(spec: GpuModelSpec, gpus: readonly GpuSnapshot[], now: Date): string {
  const lines: string[] = [now.toUTCString().replace(/ GMT$/, ''), `+${'-'.repeat(89)}+`];
  const d = spec.driverVersion;
  lines.push(wide(`${` NVIDIA-SMI ${d}`.padEnd(35)}${`Driver Version: ${d}`.padEnd(31)}CUDA Version: ${spec.runtimeVersion ?? 'N/A'}`));
  lines.push(`|${'-'.repeat(41)}+${'-'.repeat(24)}+${'-'.repeat(22)}+`);
  lines.push(row(' GPU  Name                 Persistence-M ', ' Bus-Id          Disp.A ', ' Volatile Uncorr. ECC '));
  lines.push(row(' Fan  Temp   Perf          Pwr:Usage/Cap ', '           Memory-Usage ', ' GPU-Util  Compute M. '));
  lines.push(row('', '', '               MIG M. '));
  lines.push(`|${'='.repeat(41)}+${'='.repeat(24)}+${'='.repeat(22)}|`);
  for (const g of gpus) {
    const name = (g.name ?? 'NVIDIA GPU').slice(0, 29);
    const ecc = spec.eccMode === 'enabled' ? na(g.eccUncorrectedVolatile, String) : 'N/A';
    lines.push(row(`${String(g.index).padStart(4)}  ${name.padEnd(31)}On  `, `${nvidiaBusId(g.pciBusId)} Off `, `${ecc} `));
    const temp = na(g.temperatureC, (t) => `${Math.round(t)}C`);
    const power = `${na(g.powerDrawW, (w) => `${Math.round(w)}W`)} / ${na(g.powerLimitW, (w) => `${Math.round(w)}W`).padStart(5)} `;
    const left = ` N/A  ${temp.padStart(4)}    P0`;
    const memory = `${na(g.memoryUsedBytes, (b) => `${Math.round(b / MiB)}MiB`)} / ${na(g.memoryTotalBytes, (b) => `${Math.round(b / MiB)}MiB`).padStart(9)} `;
    lines.push(row(`${left}${power.padStart(41 - left.length)}`, memory, `${na(g.utilizationPct, (u) => `${Math.round(u)}%`).padStart(8)}      Default `));
    const mig = g.migMode === 'enabled' ? 'Enabled' : g.migMode === 'disabled' ? 'Disabled' : 'N/A';
    lines.push(row('', '', `${mig} `));
    lines.push(RULE);
  }
  lines.push(' '.repeat(91).trimEnd());
  lines.push(`+${'-'.repeat(89)}+`);
  lines.push(wide(' Processes:'));
  lines.push(wide('  GPU   GI   CI        PID   Type   Process name                              GPU Memory'));
  lines.push(wide('        ID   ID                                                               Usage'));
  lines.push(`|${'='.repeat(89)}|`);
  lines.push(wide('  No running processes found'));
  lines.push(`+${'-'.repeat(89)}+`);
  return `${lines.join('\n')}\n`;
}

/** `amd-smi list`: each GPU's index, PCI address and unique id. */
export function amdSmiList(gpus: readonly GpuSnapshot[]): string {
  return gpus.map((g) => `GPU: ${g.index}\n    BDF: ${g.pciBusId ?? 'N/A'}\n    UUID: ${g.uuid ?? 'N/A'}\n\n`).join('');
}

/** `rocm-smi`: the concise table (fixture rocm-smi_table__4x_MI300X.txt). */
export function rocmSmiTable(spec: GpuModelSpec, gpus: readonly GpuSnapshot[]): string {
  const bar = (title: string) => {
    const left = Math.floor((116 - title.length - 2) / 2);
    return `${'='.repeat(left)} ${title} ${'='.repeat(116 - left - title.length - 2)}`;
  };
  const cols: [string, number][] = [
    ['Device', 8],
    ['[Model : Revision]', 22],
    ['Temp', 12],
    ['Power', 10],
    ['Partitions', 16],
    ['SCLK', 8],
    ['MCLK', 8],
    ['Fan', 5],
    ['Perf', 6],
    ['PwrCap', 8],
    ['VRAM%', 6],
    ['GPU%', 6],
  ];
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(cols[i]![1])).join('');
  const out = [
    bar('ROCm System Management Interface'),
    bar('Concise Info'),
    line(cols.map(([h]) => h)),
    line(['', 'Name (20 chars)', '(Junction)', '(Socket)', '(Mem, Compute)']),
    '='.repeat(116),
  ];
  for (const g of gpus) {
    const vram = g.memoryTotalBytes ? Math.round(((g.memoryUsedBytes ?? 0) / g.memoryTotalBytes) * 100) : 0;
    out.push(
      line([
        String(g.index),
        '[0x74a1 : 0x00]',
        na(g.temperatureC, (t) => `${t.toFixed(1)}°C`),
        na(g.powerDrawW, (w) => `${w.toFixed(1)}W`),
        'NPS1, SPX',
        na(g.smClockMhz, (c) => `${c}Mhz`),
        na(g.memClockMhz, (c) => `${c}Mhz`),
        '0%',
        'auto',
        `${spec.powerLimitW.toFixed(1)}W`,
        `${vram}%`,
        na(g.utilizationPct, (u) => `${Math.round(u)}%`),
      ]),
    );
    out.push(line(['', (g.name ?? spec.name).slice(0, 20)]));
  }
  out.push('='.repeat(116), bar('End of ROCm SMI Log'));
  return `${out.map((l) => l.trimEnd()).join('\n')}\n`;
}
