import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveServerConfig } from '../config/server-config.js';
import { startServer, type RunningServer } from '../server.js';
import type { Clock } from '../clock.js';
import type { ProviderFactories } from '../pools/providers/cloud-provider.js';

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(public t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface TestServer {
  server: RunningServer;
  url: string;
  adminToken: string;
  dataDir: string;
  /** fetch against the server with the admin token unless another (or null) is given. */
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

/**
 * A real control plane on an ephemeral loopback port with its own SQLite data dir. Given
 * `dataDir` (a restart), it uses that one and leaves it in place on close; `providers` adds
 * pool provider factories (the sim provider) over the builtin ones.
 */
export async function startTestServer(
  flags: Record<string, unknown> = {},
  opts: { clock?: Clock; dataDir?: string; providers?: ProviderFactories; masterKey?: string } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'gpufleet-test-'));
  const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir, logLevel: 'silent', ...flags } });
  const server = await startServer(config, {
    logger: false,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.providers ? { providers: opts.providers } : {}),
    ...(opts.masterKey ? { masterKey: opts.masterKey } : {}),
  });
  // Shown only on the first start; a restart reads it back as the local CLI does.
  const adminToken = server.adminToken ?? readFileSync(server.adminTokenFile, 'utf8').trim();
  const api: TestServer['api'] = async (method, path, body, token = adminToken) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(server.url + path, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed, text };
  };
  return {
    server,
    url: server.url,
    adminToken,
    dataDir,
    api,
    async close() {
      await server.stop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
