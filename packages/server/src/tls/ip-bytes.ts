import { isIPv4, isIPv6 } from 'node:net';

/** The 4 or 16 address bytes of an IP literal; null where the text is not one. */
export function ipBytes(text: string): Buffer | null {
  if (isIPv4(text)) return Buffer.from(text.split('.').map((part) => Number(part)));
  if (!isIPv6(text) || text.includes('%')) return null;
  let body = text.toLowerCase();
  const v4 = /:(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body);
  if (v4) {
    // An embedded IPv4 tail (::ffff:10.0.0.1) stands for the last two groups: rewrite it as hex.
    const [a, b, c, d] = v4.slice(1).map((part) => Number(part));
    body = `${body.slice(0, v4.index + 1)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [headText, tailText] = body.includes('::') ? body.split('::') : [body, null];
  const parse = (part: string | null | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const head = parse(headText);
  const rest = parse(tailText);
  const zeros = 8 - head.length - rest.length;
  if (zeros < 0 || (tailText === null && zeros !== 0)) return null;
  const groups = [...head, ...new Array<number>(zeros).fill(0), ...rest];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}
