/**
 * Kernel log lines as the NVIDIA driver prints them, for the simulator's fake kernel logs.
 * The shapes are those of the recorded lines in shared/fixtures/kernel/ (nvrm-xid-lines.jsonl):
 *   [6781741.548779] NVRM: Xid (PCI:0000:91:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.
 *   [6781753.400584] nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up
 *   [ 1843.308145] NVRM: The NVIDIA GPU 0000:b3:00.0
 *                  NVRM: (PCI ID: 10de:26b5) installed in this system has
 *                  NVRM: fallen off the bus and is not responding to commands.
 * Message texts come from the one XID catalog in @gpufleet/protocol.
 */
import { FleetError, normalizePciBusId, sxidInfo, xidDescription, xidInfo } from '@gpufleet/protocol';

/** How the line's time is printed: plain `dmesg`, `dmesg --time-format=iso --decode`, or `dmesg -T`. */
export const KERNEL_TIME_STYLES = ['dmesg', 'iso', 'ctime'] as const;
export type KernelTimeStyle = (typeof KERNEL_TIME_STYLES)[number];

/** When a line was printed: the kernel clock and the wall clock (epoch ms), plus sub-ms digits. */
export interface KernelTime {
  uptimeMs: number;
  epochMs: number;
  /** 0..999: the microseconds the millisecond clocks do not carry. */
  micros: number;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * The time prefix of one line in a style. `dmesg`: `[  123.456789] ` (seconds since boot, at
 * least 5 wide, as the kernel prints them); `iso`: `kern  :warn  : 2025-01-21T04:41:44,283302+00:00 `
 * (UTC); `ctime`: `[Sun Feb 23 16:24:18 2025] ` (local time, as `dmesg -T` prints it).
 */
export function kernelTimePrefix(time: KernelTime, style: KernelTimeStyle, level: 'warn' | 'err' = 'warn'): string {
  const micros = Math.min(999, Math.max(0, Math.floor(time.micros)));
  switch (style) {
    case 'dmesg': {
      const us = Math.max(0, Math.floor(time.uptimeMs)) * 1000 + micros;
      return `[${String(Math.floor(us / 1e6)).padStart(5, ' ')}.${pad(us % 1e6, 6)}] `;
    }
    case 'iso': {
      const d = new Date(time.epochMs);
      const frac = pad(d.getUTCMilliseconds(), 3) + pad(micros, 3);
      const stamp = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())},${frac}+00:00`;
      return `kern  :${level.padEnd(6, ' ')}: ${stamp} `;
    }
    case 'ctime': {
      const d = new Date(time.epochMs);
      return `[${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${d.getFullYear()}] `;
    }
  }
}

/** `0000:17:00.0` -> `0000:17:00`: the form Xid lines print (no function number). */
export function xidPciForm(pciBusId: string): string {
  const canonical = normalizePciBusId(pciBusId);
  if (!canonical) throw new FleetError('invalid_argument', `'${pciBusId}' is not a PCI bus id`);
  return canonical.slice(0, -2);
}

/**
 * The driver text of an XID as the catalog describes it (NVIDIA's description, else the
 * health daemon's), ending with a full stop like the fixture's "GPU has fallen off the bus.".
 */
export function xidMessage(code: number): string {
  const text = xidDescription(code) ?? `Xid ${code}`;
  return /[.!?)]$/.test(text) ? text : `${text}.`;
}

export interface XidLineSpec {
  pciBusId: string;
  code: number;
  /** null prints `pid='<unknown>'`; undefined leaves pid and name out (older drivers). */
  pid?: number | null;
  /** null prints `name=<unknown>`. */
  process?: string | null;
  /** MIG GPU instance, printed as `GPU-I:<id>` (two digits, as the driver pads it). */
  gpuInstance?: number;
  /** Default: the catalog's description (xidMessage). */
  message?: string;
}

/** One `NVRM: Xid` line, without its time prefix. */
export function xidText(spec: XidLineSpec): string {
  checkCode('XID', spec.code);
  if (!xidInfo(spec.code) && spec.message === undefined)
    throw new FleetError('invalid_argument', `XID ${spec.code} is not in the XID catalog: give the message text`);
  const where = `PCI:${xidPciForm(spec.pciBusId)}${spec.gpuInstance === undefined ? '' : ` GPU-I:${pad(spec.gpuInstance)}`}`;
  const who = spec.pid === undefined ? '' : `pid=${spec.pid === null ? "'<unknown>'" : spec.pid}, name=${spec.process ?? '<unknown>'}, `;
  return `NVRM: Xid (${where}): ${spec.code}, ${who}${oneLine(spec.message ?? xidMessage(spec.code))}`;
}

export interface SxidLineSpec {
  /** The NVSwitch's number on the host (nvidia-nvswitchN) and its PCI address. */
  switchIndex: number;
  pciBusId: string;
  code: number;
  /** NVLink port named in the line. */
  link: number;
  /** Default: `Fatal`/`Non-fatal`, `Link N` and the catalog's name of the code. */
  message?: string;
}

/** One NVSwitch `SXid` line, without its time prefix. */
export function sxidText(spec: SxidLineSpec): string {
  checkCode('SXid', spec.code);
  const entry = sxidInfo(spec.code);
  if (!entry && spec.message === undefined) throw new FleetError('invalid_argument', `SXid ${spec.code} is not in the SXid catalog: give the message text`);
  const pci = normalizePciBusId(spec.pciBusId);
  if (!pci) throw new FleetError('invalid_argument', `'${spec.pciBusId}' is not a PCI bus id`);
  const message = spec.message ?? `${entry!.eventType === 'Fatal' ? 'Fatal' : 'Non-fatal'}, Link ${spec.link} ${entry!.name ?? `SXid ${spec.code}`}`;
  return `nvidia-nvswitch${spec.switchIndex}: SXid (PCI:${pci}): ${spec.code}, ${oneLine(message)}`;
}

/**
 * The three-line "fallen off the bus" record older drivers print without an Xid number (the
 * parser counts it as 79). `deviceId` is the PCI vendor:device pair, e.g. `10de:2330` (H100 SXM).
 */
export function fallenOffBusLines(prefix: string, pciBusId: string, deviceId: string): string[] {
  const pci = normalizePciBusId(pciBusId);
  if (!pci) throw new FleetError('invalid_argument', `'${pciBusId}' is not a PCI bus id`);
  const indent = ' '.repeat(prefix.length);
  return [
    `${prefix}NVRM: The NVIDIA GPU ${pci}`,
    `${indent}NVRM: (PCI ID: ${deviceId}) installed in this system has`,
    `${indent}NVRM: fallen off the bus and is not responding to commands.`,
  ];
}

function checkCode(what: string, code: number): void {
  if (!Number.isSafeInteger(code) || code < 1 || code > 99_999)
    throw new FleetError('invalid_argument', `${what} code must be a whole number from 1 to 99999, got ${code}`);
}

/** A kernel line is one line: line breaks in a given message would forge extra records. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}
