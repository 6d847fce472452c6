/**
 * The prefixes kernel log lines carry, by where they were read: raw /dev/kmsg records
 * (`6,3973,227996636,-;msg`), dmesg (`[  123.456789] msg`), dmesg -T / --ctime
 * (`[Fri Aug 30 11:43:09 2024] msg`), dmesg --time-format=iso with or without --decode
 * (`kern  :warn  : 2025-01-21T04:41:44,287197+00:00 msg`), syslog files
 * (`Aug 30 11:43:09 host kernel: msg`), journalctl's short, short-iso, short-precise,
 * short-iso-precise, short-full and short-unix outputs, and nv-fabricmanager's log
 * (`[Feb 27 2025 15:10:02] [ERROR] [tid 12727] msg`). Prefixes stack (syslog then a dmesg
 * time), so they are peeled one after another.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MON = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';

/** What the prefixes of one line said, and the message after them. */
export interface KernelPrefix {
  message: string;
  /** Epoch ms when a prefix carries an absolute time (local time when it names no zone). */
  timestamp: number | null;
  /** Milliseconds since boot when a prefix carries the kernel's own clock (kmsg, plain dmesg). */
  bootOffsetMs: number | null;
  /** The /dev/kmsg sequence number when the line is a raw kmsg record. */
  kmsgSeq: number | null;
}

export interface PrefixOptions {
  /** Now, epoch ms: picks the year of syslog times, which print none. Default Date.now(). */
  now?: number;
}

function month(name: string): number {
  return MONTHS.indexOf(name.toLowerCase());
}

function localTime(y: number, mo: number, d: number, h: number, mi: number, s: number, ms = 0): number | null {
  const t = new Date(y, mo, d, h, mi, s, ms).getTime();
  return Number.isFinite(t) ? t : null;
}

/** `.123456` or `,123456` -> milliseconds (sub-millisecond digits dropped). */
function fractionMs(digits: string | undefined): number {
  if (!digits) return 0;
  return Math.floor(Number(`0.${digits}`) * 1000);
}

/** A zone like `+00:00`, `+0000`, `-0530`, `Z` -> minutes east of UTC; null when absent. */
function zoneMinutes(zone: string | undefined): number | null {
  if (!zone) return null;
  if (zone === 'Z' || zone === 'UTC' || zone === 'GMT') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (!m) return null;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

function isoTime(y: string, mo: string, d: string, h: string, mi: string, s: string, frac: string | undefined, zone: string | undefined): number | null {
  const offset = zoneMinutes(zone);
  if (offset === null) return localTime(+y, +mo - 1, +d, +h, +mi, +s, fractionMs(frac));
  const t = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, fractionMs(frac)) - offset * 60_000;
  return Number.isFinite(t) ? t : null;
}

/** Syslog prints no year: take the one that puts the time closest before now (a day of slack for clock skew). */
function syslogTime(mo: number, d: number, h: number, mi: number, s: number, ms: number, now: number): number | null {
  const year = new Date(now).getFullYear();
  const t = localTime(year, mo, d, h, mi, s, ms);
  if (t === null) return null;
  return t > now + 86_400_000 ? localTime(year - 1, mo, d, h, mi, s, ms) : t;
}

type Peel = (m: RegExpExecArray, out: KernelPrefix, now: number) => void;

// Each rule matches at the start of what is left; the first that matches is peeled off.
const RULES: [RegExp, Peel][] = [
  // Raw /dev/kmsg: prio,seq,usec,flags[,more fields];message
  [
    /^(\d{1,4}),(\d{1,20}),(\d{1,20}),[^;,]*(?:,[^;]*)?;/,
    (m, o) => {
      o.kmsgSeq = Number(m[2]);
      o.bootOffsetMs = Math.floor(Number(m[3]) / 1000);
    },
  ],
  // dmesg --decode: `kern  :warn  : `
  [/^[a-z]{2,8}\s*:[a-z]{3,7}\s*:\s?/, () => {}],
  // dmesg (and journalctl -o short-monotonic): [  123.456789]
  [
    /^\[\s*(\d{1,10})\.(\d{1,9})\]\s?/,
    (m, o) => {
      o.bootOffsetMs ??= Number(m[1]) * 1000 + fractionMs(m[2]);
    },
  ],
  // dmesg -T / --ctime: [Fri Aug 30 11:43:09 2024]
  [
    new RegExp(`^\\[${DAY}\\s+${MON}\\s+(\\d{1,2})\\s+(\\d{2}):(\\d{2}):(\\d{2})\\s+(\\d{4})\\]\\s?`),
    (m, o) => {
      o.timestamp ??= localTime(+m[6]!, month(m[1]!), +m[2]!, +m[3]!, +m[4]!, +m[5]!);
    },
  ],
  // nv-fabricmanager: [Feb 27 2025 15:10:02]
  [
    new RegExp(`^\\[${MON}\\s+(\\d{1,2})\\s+(\\d{4})\\s+(\\d{2}):(\\d{2}):(\\d{2})\\]\\s?`),
    (m, o) => {
      o.timestamp ??= localTime(+m[3]!, month(m[1]!), +m[2]!, +m[4]!, +m[5]!, +m[6]!);
    },
  ],
  // ISO 8601 (dmesg --time-format=iso, journalctl short-iso[-precise], RFC 5424 syslog)
  [
    /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?\s+/,
    (m, o) => {
      o.timestamp ??= isoTime(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], m[8]);
    },
  ],
  // journalctl short-full: Fri 2024-08-30 11:43:09 UTC
  [
    new RegExp(`^${DAY} (\\d{4})-(\\d{2})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))? ([A-Z]{2,5}|[+-]\\d{2}:?\\d{2})\\s+`),
    (m, o) => {
      o.timestamp ??= isoTime(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], zoneMinutes(m[8]) === null ? undefined : m[8]);
    },
  ],
  // syslog / journalctl short / short-precise: Aug 30 11:43:09[.123456]
  [
    new RegExp(`^${MON}\\s+(\\d{1,2})\\s+(\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))?\\s+`),
    (m, o, now) => {
      o.timestamp ??= syslogTime(month(m[1]!), +m[2]!, +m[3]!, +m[4]!, +m[5]!, fractionMs(m[6]), now);
    },
  ],
  // journalctl short-unix: 1725018189.123456
  [
    /^(\d{9,11})\.(\d{1,9})\s+/,
    (m, o) => {
      o.timestamp ??= Number(m[1]) * 1000 + fractionMs(m[2]);
    },
  ],
  // The syslog host and tag after a time: `host kernel: ` or `host kernel[0]: `
  [/^[\w.-]{1,253}\s+kernel(?:\[\d+\])?:\s?/, () => {}],
  [/^kernel(?:\[\d+\])?:\s?/, () => {}],
];

/** Peels every known prefix off one physical line; the message is what is left. */
export function splitKernelPrefix(line: string, opts: PrefixOptions = {}): KernelPrefix {
  const now = opts.now ?? Date.now();
  const out: KernelPrefix = { message: line, timestamp: null, bootOffsetMs: null, kmsgSeq: null };
  let rest = line;
  // A handful of prefixes at most stack up; the bound keeps garbage from looping.
  for (let round = 0; round < 8; round++) {
    let peeled = false;
    for (const [re, peel] of RULES) {
      const m = re.exec(rest);
      if (!m) continue;
      peel(m, out, now);
      rest = rest.slice(m[0].length);
      peeled = true;
      break;
    }
    if (!peeled) break;
  }
  out.message = out.kmsgSeq !== null ? decodeKmsgEscapes(rest) : rest;
  return out;
}

/** /dev/kmsg writes non-printable bytes as `\xNN` (a newline inside a record is `\x0a`). */
export function decodeKmsgEscapes(text: string): string {
  if (!text.includes('\\x')) return text;
  return text.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
