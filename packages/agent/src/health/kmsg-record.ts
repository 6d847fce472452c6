import { decodeKmsgEscapes } from './kernel-prefix.js';

/**
 * One record as read() from /dev/kmsg returns it (Documentation/ABI/testing/dev-kmsg):
 * `prio,seq,usec,flags[,more];message` then optional dictionary lines (` KEY=value`), each
 * after a newline. Non-printable bytes of the message come escaped as `\xNN`.
 */
export interface KmsgRecord {
  /** syslog facility (prio >> 3) and level (prio & 7). */
  facility: number;
  level: number;
  /** Monotonic record number; a gap means the ring buffer overran the reader. */
  seq: number;
  /** Microseconds since boot (the kernel's clock). */
  usec: number;
  /** `-` normally, `c` for a continuation fragment of an earlier record. */
  flags: string;
  /** The message, `\xNN` escapes decoded. */
  message: string;
  /** The first line exactly as read (header and escaped message): what the line parser reads. */
  raw: string;
  dict: Record<string, string>;
}

const HEADER_RE = /^(\d{1,4}),(\d{1,20}),(\d{1,20}),([^;,]*)((?:,[^;]*)?);/;

/** Parses one /dev/kmsg record; null when the text is not one. */
export function parseKmsgRecord(text: string): KmsgRecord | null {
  if (typeof text !== 'string') return null;
  const lines = text.replace(/\n+$/, '').split('\n');
  const raw = lines[0]!;
  const m = HEADER_RE.exec(raw);
  if (!m) return null;
  const prio = Number(m[1]);
  const seq = Number(m[2]);
  const usec = Number(m[3]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(usec)) return null;
  const dict: Record<string, string> = {};
  for (const d of lines.slice(1)) {
    // Dictionary lines start with a space; anything else is not part of this record's format.
    const kv = /^ ([A-Za-z0-9_+-]{1,64})=(.*)$/.exec(d);
    if (kv) dict[kv[1]!] = decodeKmsgEscapes(kv[2]!);
  }
  return { facility: prio >> 3, level: prio & 7, seq, usec, flags: m[4]!, message: decodeKmsgEscapes(raw.slice(m[0].length)), raw, dict };
}
