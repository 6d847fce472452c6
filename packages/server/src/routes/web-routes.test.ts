import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../http/app.js';
import { DASHBOARD_CSP, registerWebRoutes } from './web-routes.js';

let work: string;
let built: App;
let bare: App;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'gpufleet-web-routes-'));
  const dist = join(work, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>gpufleet</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(dist, 'assets', 'app.js'), 'console.log("app")');
  // A sibling whose name starts like the web folder's: must never be served.
  mkdirSync(join(work, 'dist-secret'));
  writeFileSync(join(work, 'dist-secret', 'secret.txt'), 'top secret');
  built = Fastify() as unknown as App;
  registerWebRoutes(built, dist);
  bare = Fastify() as unknown as App;
  registerWebRoutes(bare, join(work, 'not-built'));
});

afterAll(async () => {
  await built.close();
  await bare.close();
  rmSync(work, { recursive: true, force: true });
});

/** The CSP's directives as a map: name -> sources. */
function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

function expectSecurityHeaders(headers: Record<string, unknown>): void {
  expect(headers['content-security-policy']).toBe(DASHBOARD_CSP);
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['x-frame-options']).toBe('DENY');
}

describe('dashboard responses', () => {
  it('allow script, connections and styles from our own origin only, and no frames, plugins, base or foreign forms', () => {
    const d = directives(DASHBOARD_CSP);
    expect(d.get('default-src')).toEqual(["'self'"]);
    expect(d.get('script-src')).toEqual(["'self'"]);
    expect(d.get('connect-src')).toEqual(["'self'"]);
    expect(d.get('img-src')).toEqual(["'self'", 'data:']);
    expect(d.get('style-src')).toEqual(["'self'"]);
    expect(d.get('object-src')).toEqual(["'none'"]);
    expect(d.get('base-uri')).toEqual(["'none'"]);
    expect(d.get('frame-ancestors')).toEqual(["'none'"]);
    expect(d.get('form-action')).toEqual(["'self'"]);
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it('carry the security headers on the page, on client-side routes and on assets', async () => {
    for (const url of ['/', '/runs/new', '/keys']) {
      const res = await built.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toContain('<title>gpufleet</title>');
      expectSecurityHeaders(res.headers);
    }
    const js = await built.inject({ method: 'GET', url: '/assets/app.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toBe('console.log("app")');
    expectSecurityHeaders(js.headers);
  });

  it('carry them on the not-built note and on unknown API paths too', async () => {
    const note = await bare.inject({ method: 'GET', url: '/' });
    expect(note.body).toContain('The dashboard is not built');
    expectSecurityHeaders(note.headers);
    const api = await built.inject({ method: 'GET', url: '/api/v1/nope' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /api/v1/nope' } });
    expectSecurityHeaders(api.headers);
  });

  it('never serve a file outside the web folder, a sibling folder with a similar name included', async () => {
    for (const url of [
      '/..%2Fdist-secret%2Fsecret.txt',
      '/%2E%2E/dist-secret/secret.txt',
      '/assets/..%2F..%2Fdist-secret%2Fsecret.txt',
      '/../dist-secret/secret.txt',
    ]) {
      const res = await built.inject({ method: 'GET', url });
      expect(res.body, url).not.toContain('top secret');
    }
  });

  it('answer a path that is not valid percent-encoding with a 400, not a crash', async () => {
    const res = await built.inject({ method: 'GET', url: '/%E0%A4%A' });
    expect(res.statusCode).toBe(400);
  });

  it('decode the path once: %25-encoded dots stay literal text, never a way up', async () => {
    const res = await built.inject({ method: 'GET', url: '/%252e%252e%252fdist-secret%252fsecret.txt' });
    expect(res.body).not.toContain('top secret');
    expect(res.body).toContain('<title>gpufleet</title>');
  });
});
