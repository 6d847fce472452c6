import { invalidFor, parseToolJson } from '../tool-output.js';
import { emptyGpuSnapshot, normalizePciBusId, type GpuSnapshot } from '@gpufleet/protocol';
import { asRecord, asText, firstOf, toBytes, toCelsius, toCount, toMhz, toPercent, toWatts } from './amd-units.js';

const FORMAT = 'amd-smi JSON (`amd-smi metric|static|list --json`: a list of GPU records or {"gpu_data": [...]})';

const invalid = invalidFor(FORMAT, 'amd-smi-json');

/**
 * Parses `amd-smi metric --json`, `amd-smi static --json` or `amd-smi list --json` output.
 *
 * Accepts the top-level list that AMD-SMI printed before version 26 (`[{"gpu": 0, ...}]`) and
 * the `{"gpu_data": [...]}` object of AMD-SMI 26 and later. CPU records (`amd-smi static` on
 * an APU such as MI300A lists them too) are skipped. Each command carries a different part of
 * the picture; fields a command does not print stay null.
 *
 * @throws FleetError('invalid_argument') when the text is not amd-smi JSON.
 */
export function parseAmdSmiJson(text: string): GpuSnapshot[] {
  const doc = parseToolJson(text, invalid);
  const records = recordList(doc);
  const gpus: GpuSnapshot[] = [];
  for (const [i, raw] of records.entries()) {
    const rec = asRecord(raw);
    if (!rec) throw invalid(`record ${i} is not an object`);
    if (!('gpu' in rec)) continue; // a CPU or core record
    gpus.push(snapshotOf(rec, gpuIndex(rec.gpu, i)));
  }
  if (records.length > 0 && gpus.length === 0) throw invalid('no record has a "gpu" field');
  return gpus;
}

function recordList(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc;
  const obj = asRecord(doc);
  if (obj && Array.isArray(obj.gpu_data)) return obj.gpu_data;
  if (obj && 'gpu_data' in obj) throw invalid('"gpu_data" is not a list');
  throw invalid('found neither a top-level list nor a "gpu_data" list');
}

function gpuIndex(raw: unknown, position: number): number {
  const n = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw invalid(`record ${position} has "gpu": ${JSON.stringify(raw)}, not a GPU index`);
  }
  return n;
}

const section = (rec: Record<string, unknown>, key: string): Record<string, unknown> => asRecord(rec[key]) ?? {};

/** A name amd-smi could not resolve comes out as the PCI device id ("0x74a1"): not a name. */
function productName(raw: unknown): string | null {
  const name = asText(raw);
  return name !== null && /^0x[0-9a-f]+$/i.test(name) ? null : name;
}

function snapshotOf(rec: Record<string, unknown>, index: number): GpuSnapshot {
  const s = emptyGpuSnapshot('amd', index);
  const asic = section(rec, 'asic');
  const board = section(rec, 'board');
  const bus = section(rec, 'bus');
  const driver = section(rec, 'driver');
  const vbios = section(rec, 'vbios');
  const limit = section(rec, 'limit');
  const vram = section(rec, 'vram');
  const usage = section(rec, 'usage');
  const power = section(rec, 'power');
  const temperature = section(rec, 'temperature');
  const memUsage = section(rec, 'mem_usage');
  const ecc = section(rec, 'ecc');
  const fan = section(rec, 'fan');

  // `amd-smi list` prints a real UUID; static/metric only have the ASIC serial, which is
  // unique per die and stable across reboots, so it stands in for one.
  s.uuid = firstOf(asText(rec.uuid), asText(asic.asic_serial));
  s.name = firstOf(productName(asic.market_name), productName(board.product_name));
  s.pciBusId = normalizePciBusId(firstOf(asText(rec.bdf), asText(bus.bdf)));
  s.serial = firstOf(asText(board.product_serial), asText(asic.asic_serial));
  s.driverVersion = asText(driver.version);
  s.vbiosVersion = firstOf(asText(vbios.version), asText(vbios.vbios_version));
  s.memoryTotalBytes = firstOf(toBytes(memUsage.total_vram, 'MB'), toBytes(vram.size, 'MB'), toBytes(vram.vram_size, 'MB'));
  s.powerLimitW = firstOf(
    toWatts(section(limit, 'ppt0').socket_power_limit), // AMD-SMI 26: one block per power rail
    toWatts(limit.socket_power), // before 26: the current cap, beside max_power/min_power
    toWatts(limit.power_cap),
    toWatts(power.power_limit),
  );
  s.eccMode = eccModeOf(section(section(rec, 'ras'), 'ecc_block_state'));

  // The hotspot (junction) sensor is what throttles the die; MI300 parts report no edge sensor.
  s.temperatureC = firstOf(toCelsius(temperature.hotspot), toCelsius(temperature.junction), toCelsius(temperature.edge));
  s.memoryTemperatureC = firstOf(toCelsius(temperature.mem), toCelsius(temperature.vram));
  s.utilizationPct = toPercent(usage.gfx_activity);
  s.memoryUtilizationPct = toPercent(usage.umc_activity);
  s.memoryUsedBytes = toBytes(memUsage.used_vram, 'MB');
  s.powerDrawW = firstOf(toWatts(power.socket_power), toWatts(power.current_socket_power), toWatts(power.average_socket_power));
  s.smClockMhz = clockOf(section(rec, 'clock'), /^gfx(_\d+)?$/i);
  s.memClockMhz = clockOf(section(rec, 'clock'), /^mem(_\d+)?$/i);
  s.fanPct = fanPercentOf(fan);
  // amdgpu's RAS counters count since the driver loaded, like NVIDIA's volatile counters.
  s.eccCorrectedVolatile = toCount(ecc.total_correctable_count);
  s.eccUncorrectedVolatile = toCount(ecc.total_uncorrectable_count);
  return s;
}

/** Device memory ECC is the UMC (memory controller) block's state. */
function eccModeOf(blocks: Record<string, unknown>): GpuSnapshot['eccMode'] {
  const umc = asText(blocks.UMC ?? blocks.umc)?.toUpperCase();
  if (umc === 'ENABLED') return 'enabled';
  if (umc === 'DISABLED') return 'disabled';
  return null;
}

/**
 * Current clock of a domain. Parts with several dies list one block per die (gfx_0..gfx_7 on
 * MI300X); the first die that reports a clock stands for the GPU.
 */
function clockOf(clock: Record<string, unknown>, key: RegExp): number | null {
  const keys = Object.keys(clock)
    .filter((k) => key.test(k))
    .sort((a, b) => (Number(a.split('_')[1] ?? 0) || 0) - (Number(b.split('_')[1] ?? 0) || 0));
  for (const k of keys) {
    const block = asRecord(clock[k]);
    const mhz = block ? firstOf(toMhz(block.clk), toMhz(block.cur_clk), toMhz(block.current)) : toMhz(clock[k]);
    if (mhz !== null) return mhz;
  }
  return null;
}

function fanPercentOf(fan: Record<string, unknown>): number | null {
  const usage = toPercent(fan.usage);
  if (usage !== null) return usage;
  // Older versions give only the raw PWM value and its maximum (0..255).
  const speed = toCount(fan.speed);
  const max = toCount(fan.max);
  return speed !== null && max !== null && max > 0 ? Math.round((speed / max) * 1000) / 10 : null;
}
