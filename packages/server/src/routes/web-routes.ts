import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, dirname } from 'node:path';
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

/** packages/server/{src,dist}/routes -> packages/web/dist */
export function defaultWebDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../web/dist');
}

/** Serves the built dashboard when packages/web/dist exists; a short note otherwise. */
export function registerWebRoutes(app: App, webDir = defaultWebDir()): void {
  const present = existsSync(join(webDir, 'index.html'));
  app.get('/*', { config: { auth: 'public' }, schema: { hide: true } }, async (req, reply) => {
    const path = decodeURIComponent((req.params as { '*': string })['*'] ?? '');
    if (path.startsWith('api/') || path.startsWith('v1/')) {
      return reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} /${path}` } });
    }
    if (!present) {
      return reply.type('text/html; charset=utf-8').send('<!doctype html><title>gpufleet</title><h1>gpufleet control plane</h1><p>The dashboard is not built. The REST API is at <a href="/openapi.json">/openapi.json</a>; the CLI is <code>gpufleet</code>.</p>');
    }
    const file = normalize(join(webDir, path));
    // Never serve outside the web folder; unknown paths get index.html (client-side routes).
    const target = file.startsWith(webDir) && existsSync(file) && statSync(file).isFile() ? file : join(webDir, 'index.html');
    return reply.type(TYPES[extname(target)] ?? 'application/octet-stream').send(readFileSync(target));
  });
}
