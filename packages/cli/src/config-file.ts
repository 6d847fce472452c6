import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { CliError, UsageError } from './errors.js';

/** One saved control plane: where it is, the API token, and the CA to trust for https. */
export interface CliContext {
  server: string;
  token: string;
  /** PEM of the CA saved at login for a server with its own CA; absent for public or plain-HTTP servers. */
  caPem?: string;
}

/** ~/.config/gpufleet/config.yaml: named contexts and the current one (kubectl-like). */
export interface CliConfig {
  current: string | null;
  contexts: Record<string, CliContext>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkContextName(name: string): string {
  if (!NAME.test(name)) throw new UsageError(`context name '${name}' must be letters, digits, '.', '_' or '-' (at most 64)`);
  return name;
}

/** `$XDG_CONFIG_HOME/gpufleet/config.yaml`, else `~/.config/gpufleet/config.yaml`. */
export function configPath(env: NodeJS.ProcessEnv, home: string): string {
  const base = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(base, 'gpufleet', 'config.yaml');
}

function damaged(path: string, why: string): CliError {
  return new CliError(`config file ${path} is damaged (${why}): fix it or delete it and run \`gpufleet login\` again`);
}

/** Reads the config; a missing file is an empty config, a damaged one a clear error. */
export function loadConfig(path: string): CliConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { current: null, contexts: {} };
    throw new CliError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw damaged(path, `not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return { current: null, contexts: {} };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw damaged(path, 'not a mapping');
  const raw = doc as Record<string, unknown>;
  const contexts: Record<string, CliContext> = {};
  const rawContexts = raw.contexts ?? {};
  if (typeof rawContexts !== 'object' || rawContexts === null || Array.isArray(rawContexts)) throw damaged(path, '`contexts` is not a mapping');
  for (const [name, value] of Object.entries(rawContexts as Record<string, unknown>)) {
    const c = value as Record<string, unknown> | null;
    if (!c || typeof c !== 'object' || typeof c.server !== 'string' || typeof c.token !== 'string') {
      throw damaged(path, `context '${name}' needs text fields server and token`);
    }
    if (c.caPem !== undefined && typeof c.caPem !== 'string') throw damaged(path, `context '${name}' caPem is not text`);
    contexts[name] = { server: c.server, token: c.token, ...(typeof c.caPem === 'string' ? { caPem: c.caPem } : {}) };
  }
  const current = typeof raw.current === 'string' && raw.current in contexts ? raw.current : null;
  return { current, contexts };
}

/** Writes the config atomically with mode 0600 (it holds API tokens) in a 0700 folder. */
export function saveConfig(path: string, config: CliConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, toYaml({ current: config.current, contexts: config.contexts }, { lineWidth: 0 }), { mode: 0o600 });
  // writeFileSync keeps the mode of an existing file; chmod makes 0600 certain.
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** A context name from a server URL: its host, e.g. `fleet.example.com` or `127.0.0.1-7420`. */
export function contextNameFor(server: string): string {
  const url = new URL(server);
  const name = (url.port ? `${url.hostname}-${url.port}` : url.hostname)
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return name.slice(0, 64) || 'default';
}
