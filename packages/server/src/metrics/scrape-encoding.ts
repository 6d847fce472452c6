import { pipeline, type Readable } from 'node:stream';
import { constants, createGzip } from 'node:zlib';

/**
 * Whether a scraper's Accept-Encoding takes gzip (Prometheus sends `gzip`; `gzip;q=0` refuses
 * it, `*` takes anything). Anything unreadable means no: plain text always works.
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  let star: boolean | null = null;
  for (const part of text.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    const ok = Number.isFinite(q) && q > 0;
    if (name.trim() === 'gzip' || name.trim() === 'x-gzip') return ok;
    if (name.trim() === '*') star = ok;
  }
  return star === true;
}

/**
 * The exposition text gzipped as it streams. Fastest level: the text is so repetitive that
 * it still shrinks about tenfold, and a 10,000-node scrape must not hold the event loop.
 */
export function gzipStream(body: Readable): Readable {
  // pipeline destroys both sides when either fails (a render error ends the response).
  return pipeline(body, createGzip({ level: constants.Z_BEST_SPEED }), () => undefined);
}
