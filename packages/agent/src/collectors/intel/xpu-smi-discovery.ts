import { invalidFor, parseToolJson } from '../tool-output.js';
import { emptyGpuSnapshot, normalizePciBusId, type GpuSnapshot } from '@gpufleet/protocol';

const FORMAT = 'xpu-smi discovery JSON (`xpu-smi discovery -j`: {"device_list": [...]}, or one device from `xpu-smi discovery -d N -j`)';

const invalid = invalidFor(FORMAT, 'xpu-smi-discovery-json');

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// xpu-smi writes "unknown" where the device has no serial number.
const PLACEHOLDERS = new Set(['', 'n/a', 'na', 'unknown']);

function textOf(raw: unknown): string | null {
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw !== 'string') return null;
  const t = raw.trim();
  return PLACEHOLDERS.has(t.toLowerCase()) ? null : t;
}

/** A whole number that xpu-smi may print as a number or as a decimal string. */
function wholeNumber(raw: unknown): number | null {
  const n = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/**
 * Parses `xpu-smi discovery -j` (the device list: name, UUID, PCI address) or
 * `xpu-smi discovery -d N -j` (one device with memory size, driver, serial, ECC state).
 * Each GPU's index is its xpu-smi device id, the id `xpu-smi dump -d` takes.
 *
 * @throws FleetError('invalid_argument') when the text is not xpu-smi discovery JSON.
 */
export function parseXpuSmiDiscoveryJson(text: string): GpuSnapshot[] {
  const doc = parseToolJson(text, invalid);
  if (!isRecord(doc)) throw invalid(`the top level is ${Array.isArray(doc) ? 'a list' : typeof doc}, not an object`);
  let devices: unknown[];
  if (Array.isArray(doc.device_list)) devices = doc.device_list;
  else if ('device_id' in doc) devices = [doc];
  else throw invalid('found neither "device_list" nor "device_id"');

  const gpus: GpuSnapshot[] = [];
  for (const [i, raw] of devices.entries()) {
    if (!isRecord(raw)) throw invalid(`device ${i} is not an object`);
    // Devices xpu-smi could not open carry no device_id (only a PCI address and a
    // firmware status): there is nothing to sample on them.
    const index = wholeNumber(raw.device_id);
    if (index === null) continue;
    const type = textOf(raw.device_type);
    if (type !== null && type.toUpperCase() !== 'GPU') continue;
    gpus.push(snapshotOf(raw, index));
  }
  return gpus.sort((a, b) => a.index - b.index);
}

function snapshotOf(dev: Record<string, unknown>, index: number): GpuSnapshot {
  const s = emptyGpuSnapshot('intel', index);
  s.name = textOf(dev.device_name);
  s.uuid = textOf(dev.uuid);
  s.pciBusId = normalizePciBusId(textOf(dev.pci_bdf_address));
  s.serial = textOf(dev.serial_number);
  s.driverVersion = textOf(dev.driver_version);
  // The GPU firmware is the nearest thing an Intel data-center GPU has to a VBIOS.
  s.vbiosVersion = textOf(dev.gfx_firmware_version);
  s.memoryTotalBytes = wholeNumber(dev.memory_physical_size_byte);
  const ecc = textOf(dev.memory_ecc_state)?.toLowerCase();
  s.eccMode = ecc === 'enabled' || ecc === 'disabled' ? ecc : null;
  return s;
}
