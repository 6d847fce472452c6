import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { CliIo } from './io.js';
import type { Connection } from './api-client.js';
import { CliError, UsageError } from './errors.js';
import { checkContextName, configPath, loadConfig, type CliContext } from './config-file.js';

/** Where `gpufleet server` and `gpufleet demo` listen unless told otherwise. */
export const LOCAL_SERVER = 'http://127.0.0.1:7420';

/** The global flags that pick a control plane. */
export interface ConnectionFlags {
  server?: string;
  token?: string;
  context?: string;
}

/** A server URL as typed: http(s) only, no trailing slash, no path. */
export function normalizeServerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`);
  } catch {
    throw new UsageError(`server '${text}' is not a URL such as https://fleet.example.com or http://127.0.0.1:7420`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`server '${text}' must be an http:// or https:// URL`);
  return url.origin;
}

/** Checks that a string looks like an API token (and says so when a join token was given instead). */
export function checkApiToken(token: string): string {
  const t = token.trim();
  if (t.startsWith('gfj1.')) throw new UsageError('that is a join token (gfj1...), for `gpufleet-agent join`; the CLI needs an API token (gft_...)');
  if (!/^gft_[A-Za-z0-9_-]+$/.test(t)) throw new UsageError('the API token must look like gft_<id>_<secret>');
  return t;
}

/** The folder `gpufleet server`/`demo` use by default, where the admin token file lives. */
export function defaultDataDir(io: CliIo): string {
  const fromEnv = io.env.GPUFLEET_DATA_DIR;
  if (fromEnv) return isAbsolute(fromEnv) ? fromEnv : resolve(io.cwd, fromEnv);
  return join(io.cwd, 'gpufleet-data');
}

function readAdminToken(io: CliIo): { token: string; file: string } | null {
  const file = join(defaultDataDir(io), 'admin-token');
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token ? { token, file } : null;
  } catch {
    return null;
  }
}

function isLocalDefault(server: string): boolean {
  return server === LOCAL_SERVER || server === 'http://localhost:7420';
}

/**
 * Picks server and token: flags, then GPUFLEET_SERVER / GPUFLEET_TOKEN, then the current context
 * in the config file, then (for the local default server) the admin token the server wrote into
 * ./gpufleet-data. A context's token is only sent to that context's own server.
 */
export function resolveConnection(flags: ConnectionFlags, io: CliIo): Connection {
  const path = configPath(io.env, io.home);
  const config = loadConfig(path);
  const wanted = flags.context ?? io.env.GPUFLEET_CONTEXT;
  let context: CliContext | undefined;
  let contextName: string | undefined;
  if (wanted) {
    checkContextName(wanted);
    context = config.contexts[wanted];
    if (!context) throw new UsageError(`no context named '${wanted}' (see \`gpufleet context ls\`)`);
    contextName = wanted;
  } else if (config.current) {
    context = config.contexts[config.current];
    contextName = config.current;
  }

  const rawServer = flags.server ?? io.env.GPUFLEET_SERVER;
  const server = rawServer ? normalizeServerUrl(rawServer) : (context?.server ?? LOCAL_SERVER);
  const sameServer = context !== undefined && context.server === server;

  const rawToken = flags.token ?? io.env.GPUFLEET_TOKEN;
  if (rawToken) {
    const source = flags.token ? '--token' : 'GPUFLEET_TOKEN';
    return { server, token: checkApiToken(rawToken), ...(sameServer && context?.caPem ? { caPem: context.caPem } : {}), source };
  }
  if (sameServer && context) return { server, token: context.token, ...(context.caPem ? { caPem: context.caPem } : {}), source: `context ${contextName}` };
  if (isLocalDefault(server)) {
    const local = readAdminToken(io);
    if (local) return { server, token: local.token, source: local.file };
  }
  throw new CliError(
    `no API token for ${server}: run \`gpufleet login --server ${server} --token <token>\`, pass --token or set GPUFLEET_TOKEN` +
      (isLocalDefault(server) ? ` (no admin token file in ${defaultDataDir(io)} either)` : ''),
  );
}
