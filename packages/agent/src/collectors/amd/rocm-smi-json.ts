import { invalidFor, parseToolJson } from '../tool-output.js';
import { emptyGpuSnapshot, normalizePciBusId, type GpuSnapshot } from '@gpufleet/protocol';
import { asRecord, asText, firstOf, toBytes, toCelsius, toMhz, toPercent, toWatts } from './amd-units.js';

const FORMAT = 'rocm-smi JSON (`rocm-smi ... --json`: an object with "card0", "card1", ... and "system")';

const invalid = invalidFor(FORMAT, 'rocm-smi-json');

/**
 * Parses `rocm-smi --json` output (any mix of --show* flags). Each `cardN` key is one GPU
 * with index N; the driver version sits under "system". rocm-smi prints every value as a
 * string with the unit in the key ("VRAM Total Memory (B)"); fields it did not print stay null.
 *
 * @throws FleetError('invalid_argument') when the text is not rocm-smi JSON.
 */
export function parseRocmSmiJson(text: string): GpuSnapshot[] {
  const doc = parseToolJson(text, invalid);
  const top = asRecord(doc);
  if (!top) throw invalid(`the top level is ${Array.isArray(doc) ? 'a list' : typeof doc}, not an object`);
  const cardKeys = Object.keys(top).filter((k) => /^card\d+$/.test(k));
  if (cardKeys.length === 0 && !('system' in top)) throw invalid('no "cardN" or "system" key');

  const system = asRecord(top.system) ?? {};
  const driverVersion = asText(field(system, 'Driver version'));
  return cardKeys
    .map((key) => {
      const card = asRecord(top[key]);
      if (!card) throw invalid(`"${key}" is not an object`);
      const s = snapshotOf(card, Number(key.slice(4)));
      s.driverVersion = driverVersion;
      return s;
    })
    .sort((a, b) => a.index - b.index);
}

/**
 * A field by name, ignoring case: rocm-smi's own spelling has changed between releases
 * ("Card series" became "Card Series").
 */
function field(card: Record<string, unknown>, name: string): unknown {
  if (name in card) return card[name];
  const lower = name.toLowerCase();
  const key = Object.keys(card).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : card[key];
}

function snapshotOf(card: Record<string, unknown>, index: number): GpuSnapshot {
  const s = emptyGpuSnapshot('amd', index);
  const get = (...names: string[]): unknown => names.map((n) => field(card, n)).find((v) => asText(v) !== null);

  s.uuid = asText(get('Unique ID'));
  s.name = asText(get('Card Series', 'Device Name'));
  s.pciBusId = normalizePciBusId(asText(get('PCI Bus')));
  s.serial = asText(get('Serial Number'));
  s.vbiosVersion = asText(get('VBIOS version'));
  s.memoryTotalBytes = toBytes(get('VRAM Total Memory (B)'));
  s.memoryUsedBytes = toBytes(get('VRAM Total Used Memory (B)'));
  // "Max Graphics Package Power" is the power cap (hwmon power1_cap), not a hardware maximum.
  s.powerLimitW = toWatts(get('Max Graphics Package Power (W)'));
  s.powerDrawW = toWatts(get('Current Socket Graphics Package Power (W)', 'Average Graphics Package Power (W)'));
  // Same preference as amd-smi: junction (hotspot) first, since MI-series parts have no edge sensor.
  s.temperatureC = firstOf(toCelsius(get('Temperature (Sensor junction) (C)')), toCelsius(get('Temperature (Sensor edge) (C)')));
  s.memoryTemperatureC = toCelsius(get('Temperature (Sensor memory) (C)'));
  s.utilizationPct = toPercent(get('GPU use (%)'));
  // Memory controller busy percent; "GPU Memory Allocated (VRAM%)" is allocation, not activity.
  s.memoryUtilizationPct = toPercent(get('GPU Memory Read/Write Activity (%)', 'GPU memory use (%)', 'Memory Activity'));
  // Clock speeds read "(1051Mhz)".
  s.smClockMhz = toMhz(get('sclk clock speed:'));
  s.memClockMhz = toMhz(get('mclk clock speed:'));
  s.fanPct = toPercent(get('Fan speed (%)'));
  return s;
}
