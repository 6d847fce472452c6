import { FALLEN_OFF_BUS_XID, normalizePciBusId } from '@gpufleet/protocol';
import { matchDriverMessage } from './driver-messages.js';
import { splitKernelPrefix, type PrefixOptions } from './kernel-prefix.js';

/** What kind of GPU fact a kernel line reports (AgentEvent kinds of the same names). */
export type KernelEventKind = 'xid' | 'sxid' | 'fallen-off-bus' | 'driver';

/** One GPU event read from a kernel (or fabric manager) log line. */
export interface KernelEvent {
  kind: KernelEventKind;
  /** The Xid or SXid number; 79 for the un-numbered fallen-off-bus forms; null for driver messages. */
  code: number | null;
  /** Canonical PCI address (`0000:cb:00.0`) of the GPU or NVSwitch, when the line names one. */
  pciBusId: string | null;
  /** MIG GPU instance id from `GPU-I:<id>` (leading zeros dropped), null without MIG. */
  gpuInstance: string | null;
  /** MIG compute instance id from `GPU-CI:<id>`, when the driver printed one. */
  computeInstance: string | null;
  pid: number | null;
  /** Process name (`name=`), null when the driver did not know it. */
  process: string | null;
  /** The text after the code (pid and name fields taken out); the driver text for other kinds. */
  message: string;
  /** N of `caused by previous Xid N`. */
  causedBy: number | null;
  /** Epoch ms when the line's prefix carries an absolute time. */
  timestamp: number | null;
  /** Ms since boot when the prefix carries the kernel clock (raw kmsg, plain dmesg). */
  bootOffsetMs: number | null;
  /** The line as read (a multi-line record keeps its line breaks). */
  line: string;
}

const PCI = '[0-9a-fA-F]{1,8}:[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}(?:\\.[0-7])?';
// NVRM: Xid (PCI:0000:01:00 GPU-I:05 GPU-CI:02): 94, pid=..., name=..., text; old drivers omit `PCI:`.
// What is inside the brackets is read apart (XID_WHERE_RE): a log shipped through a redacting
// pipeline (`Xid (PCI:...): 137, ...`) is still an Xid, on an address nobody knows.
const XID_RE = /\bNVRM: Xid \(([^()\n]{0,96})\)\s*:\s*(\d{1,6})\b,?\s*([\s\S]*)$/i;
const XID_WHERE_RE = new RegExp(`^\\s*(?:PCI:)?(${PCI})(?=\\s|$)`, 'i');
// nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up
const SXID_RE = new RegExp(`\\bSXid \\((?:PCI:)?(${PCI})\\)\\s*:\\s*(\\d{1,6})\\b,?\\s*([\\s\\S]*)$`, 'i');
// nv-fabricmanager: detected NVSwitch non-fatal error 12028 on fid 0 on NVSwitch pci bus id 00000000:86:00.0 ...
const FM_SXID_RE = /\bdetected NVSwitch (non-fatal|fatal) error (\d{1,6})\b\s*([\s\S]*)$/i;
const FM_PCI_RE = new RegExp(`\\bpci bus id (${PCI})`, 'i');
const FALLEN_RE = /(?:\bNVRM:|\bnvidia\b)[\s\S]*\bfallen off the bus\b/i;
// Where a GPU's address shows in the un-numbered messages.
const GPU_PCI_RE = new RegExp(`\\b(?:GPU(?: at)?|probe of|PCI:)\\s*(?:PCI:)?(${PCI})\\b`, 'i');

/**
 * Reads one kernel log line (any prefix style: raw /dev/kmsg, dmesg, dmesg -T / iso, syslog,
 * journalctl, fabric manager) and returns the GPU event it reports, or null for every other line.
 * A multi-line record (the "has fallen off the bus" message that dmesg prints over three
 * indented lines) may be passed joined with line breaks; KernelLineJoiner does that for streams.
 * Never throws.
 */
export function parseKernelLine(line: string, opts: PrefixOptions = {}): KernelEvent | null {
  if (typeof line !== 'string' || line.length === 0) return null;
  try {
    return parse(line, opts);
  } catch {
    // A parser bug must not take a watcher down: the line is simply not an event.
    return null;
  }
}

function parse(line: string, opts: PrefixOptions): KernelEvent | null {
  const head = splitKernelPrefix(line.split('\n', 1)[0]!, opts);
  const text = logicalText(line, head.message);
  // Cheap screen: every event form names NVRM, an NVSwitch, or an nvidia module.
  if (!/NVRM|SXid|NVSwitch|nvidia/i.test(text)) return null;
  const base = {
    gpuInstance: null,
    computeInstance: null,
    pid: null,
    process: null,
    causedBy: null,
    timestamp: head.timestamp,
    bootOffsetMs: head.bootOffsetMs,
    line,
  };

  const xid = XID_RE.exec(text);
  if (xid) {
    const fields = takeProcessFields(xid[3]!.trim());
    const where = xid[1]!;
    const address = XID_WHERE_RE.exec(where);
    return {
      ...base,
      kind: 'xid',
      code: Number(xid[2]),
      // Null where the address is missing, redacted or garbled: the event stays, its GPU is unknown.
      pciBusId: address ? normalizePciBusId(address[1]) : null,
      gpuInstance: instanceId(where, 'GPU-I'),
      computeInstance: instanceId(where, 'GPU-CI'),
      pid: fields.pid,
      process: fields.process,
      message: fields.rest,
      causedBy: causedBy(fields.rest),
    };
  }
  const sxid = SXID_RE.exec(text);
  if (sxid) {
    return { ...base, kind: 'sxid', code: Number(sxid[2]), pciBusId: normalizePciBusId(sxid[1]), message: sxid[3]!.trim() };
  }
  const fm = FM_SXID_RE.exec(text);
  if (fm) {
    const pci = FM_PCI_RE.exec(fm[3]!);
    // Keep the fatality word in the message: it is the only severity the fabric manager gives.
    return {
      ...base,
      kind: 'sxid',
      code: Number(fm[2]),
      pciBusId: normalizePciBusId(pci?.[1]),
      message: `${fm[1]!.toLowerCase()} error ${fm[3]!.trim()}`.trim(),
    };
  }
  if (FALLEN_RE.test(text)) {
    return { ...base, kind: 'fallen-off-bus', code: FALLEN_OFF_BUS_XID, pciBusId: pciIn(text), message: driverText(text) };
  }
  if (matchDriverMessage(text)) {
    return { ...base, kind: 'driver', code: null, pciBusId: pciIn(text), message: driverText(text) };
  }
  return null;
}

/**
 * The message of a possibly multi-line record as one line: continuation lines (real line
 * breaks, or `\x0a` inside a raw kmsg record) lose their own prefix, indentation and repeated
 * `NVRM:` tag.
 */
function logicalText(line: string, first: string): string {
  const parts = first.split('\n');
  if (line.includes('\n')) for (const more of line.split('\n').slice(1)) parts.push(splitKernelPrefix(more.trim()).message);
  if (parts.length === 1) return first;
  const rest = parts
    .slice(1)
    .map((m) => m.trim().replace(/^NVRM:\s*/, ''))
    .filter(Boolean);
  return [parts[0]!.trim(), ...rest].join(' ');
}

/** Takes the leading `pid=..., name=...,` fields off the text after an Xid code. */
function takeProcessFields(text: string): { pid: number | null; process: string | null; rest: string } {
  let rest = text;
  let pid: number | null = null;
  let process: string | null = null;
  const p = /^pid=([^,\s]*)(?:,\s*|\s*$)/.exec(rest);
  if (p) {
    const v = p[1]!.replace(/'/g, '');
    pid = /^\d{1,10}$/.test(v) ? Number(v) : null;
    rest = rest.slice(p[0].length);
  }
  const n = /^name=(.*?)(?:,\s+|,$|$)/.exec(rest);
  if (n) {
    const v = n[1]!.trim();
    process = v === '' || v === '<unknown>' || v === "'<unknown>'" ? null : v;
    rest = rest.slice(n[0].length);
  }
  return { pid, process, rest: rest.trim() };
}

function instanceId(attrs: string, tag: 'GPU-I' | 'GPU-CI'): string | null {
  const m = new RegExp(`\\b${tag}:\\s*(\\d{1,5})\\b`).exec(attrs);
  return m ? String(Number(m[1])) : null;
}

function causedBy(text: string): number | null {
  const m = /\bcaused by previous Xid (\d{1,6})\b/i.exec(text);
  return m ? Number(m[1]) : null;
}

function pciIn(text: string): string | null {
  const m = GPU_PCI_RE.exec(text);
  return m ? normalizePciBusId(m[1]) : null;
}

/** The driver's own words: the text from its `NVRM:` tag on, without the tag. */
function driverText(text: string): string {
  const at = text.indexOf('NVRM:');
  return (at >= 0 ? text.slice(at + 5) : text).trim();
}
