import { expect } from 'vitest';
import type { App } from '../../http/app.js';

/** What a route test reads back from one injected request. */
export interface InjectedReply {
  status: number;
  /** The body parsed as JSON, or null when it is not JSON. */
  body: any;
  raw: Buffer;
  headers: Record<string, unknown>;
}

/**
 * One request through Fastify's inject, as a client with this bearer token would send it (none:
 * no Authorization header). An object body goes as JSON; a string body goes as it is, with a JSON
 * content type, so tests can send broken JSON.
 */
export async function injectJson(app: App, method: string, url: string, token: string | null, body?: unknown): Promise<InjectedReply> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) });
  let parsed: any = null;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    parsed = null;
  }
  return { status: res.statusCode, body: parsed, raw: res.rawPayload, headers: res.headers };
}

/** The reply is the error the API promises: this status, this code, a message matching. */
export function expectError(r: { status: number; body: any }, status: number, code: string, message?: RegExp): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error.code).toBe(code);
  if (message) expect(r.body.error.message).toMatch(message);
}
