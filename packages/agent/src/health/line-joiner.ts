import { splitKernelPrefix } from './kernel-prefix.js';

// The one multi-line NVIDIA message that matters: printed as
//   NVRM: The NVIDIA GPU 0000:b3:00.0
//         NVRM: (PCI ID: 10de:26b5) installed in this system has
//         NVRM: fallen off the bus and is not responding to commands.
// Its first line alone says nothing, so it waits for the rest.
const HEAD_RE = /\bNVRM: The NVIDIA GPU [0-9a-fA-F:.]+\b/;
const MAX_PARTS = 6;

/**
 * Puts multi-line kernel records back together for line-oriented sources (dmesg, journalctl,
 * log files): a record's head waits until its continuation lines (indented, or tagged `NVRM:`)
 * complete the sentence, then comes out as one string joined with `\n`. Every other line comes
 * out as it went in, in order. Call flush() when the source goes quiet or ends.
 */
export class KernelLineJoiner {
  private pending: string[] = [];

  /** Feeds one physical line; returns the logical lines now complete (zero, one or two). */
  push(line: string): string[] {
    const out: string[] = [];
    if (this.pending.length > 0) {
      if (this.continues(line)) {
        this.pending.push(line);
        if (this.complete()) out.push(...this.flush());
        return out;
      }
      out.push(...this.flush());
    }
    const msg = splitKernelPrefix(line).message;
    if (HEAD_RE.test(msg) && !/[.!]\s*$/.test(msg)) this.pending.push(line);
    else out.push(line);
    return out;
  }

  /** Whether a head is waiting for its continuation. */
  get waiting(): boolean {
    return this.pending.length > 0;
  }

  /** Gives out what is waiting, complete or not. */
  flush(): string[] {
    if (this.pending.length === 0) return [];
    const joined = this.pending.join('\n');
    this.pending = [];
    return [joined];
  }

  private continues(line: string): boolean {
    if (/^\s+\S/.test(line)) return !/\bNVRM: Xid\b/.test(line);
    const msg = splitKernelPrefix(line).message;
    return /^NVRM: /.test(msg) && !/^NVRM: Xid\b/.test(msg) && !HEAD_RE.test(msg);
  }

  private complete(): boolean {
    return this.pending.length >= MAX_PARTS || /[.!]\s*$/.test(this.pending[this.pending.length - 1]!);
  }
}
