import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../http/app.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * The dashboard's Content-Security-Policy. The operator's signing key can be unlocked in the
 * page, so script must come only from our own files: no inline script, no eval, no other origin
 * (a script injected through some rendered text could otherwise ask the key to sign). Styles:
 * only our stylesheet; React's style props and uPlot go through the CSSOM, which CSP allows, so
 * no 'unsafe-inline'. data: images are the inline favicon.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** Headers on every dashboard response: the CSP, no MIME sniffing, no referrer, never in a frame. */
export const DASHBOARD_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** packages/server/{src,dist}/routes -> packages/web/dist */
export function defaultWebDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../web/dist');
}

/** Serves the built dashboard when packages/web/dist exists; a short note otherwise. */
export function registerWebRoutes(app: App, webDir = defaultWebDir()): void {
  const root = resolve(webDir);
  const present = existsSync(join(root, 'index.html'));
  app.get('/*', { config: { auth: 'public' }, schema: { hide: true } }, async (req, reply) => {
    reply.headers(DASHBOARD_SECURITY_HEADERS);
    // Fastify has decoded the path already; decoding it again would let %252e%252e through as '..'.
    const path = (req.params as { '*': string })['*'] ?? '';
    if (path.startsWith('api/') || path.startsWith('v1/')) {
      return reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} /${path}` } });
    }
    if (!present) {
      return reply
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><title>gpufleet</title><h1>gpufleet control plane</h1><p>The dashboard is not built. The REST API is at <a href="/openapi.json">/openapi.json</a>; the CLI is <code>gpufleet</code>.</p>',
        );
    }
    const file = normalize(join(root, path));
    // Never serve outside the web folder (a sibling such as dist-old/ included); unknown paths get index.html (client-side routes).
    const target = file.startsWith(root + sep) && existsSync(file) && statSync(file).isFile() ? file : join(root, 'index.html');
    return reply.type(TYPES[extname(target)] ?? 'application/octet-stream').send(readFileSync(target));
  });
}
