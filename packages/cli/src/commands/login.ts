import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { CliDeps } from '../command-deps.js';
import { ApiClient } from '../api-client.js';
import { checkContextName, configPath, contextNameFor, loadConfig, saveConfig } from '../config-file.js';
import { checkApiToken, normalizeServerUrl } from '../connection.js';
import { CliError, UsageError } from '../errors.js';
import { sendHttp, TransportError } from '../http-request.js';
import { print } from '../output.js';

/** SHA-256 of a certificate's DER as 64 lowercase hex digits (the join token's format). */
export function caFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

function normalizeFingerprint(text: string): string {
  const hex = text
    .replace(/^sha256:/i, '')
    .replace(/:/g, '')
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new UsageError('--ca-fingerprint must be 64 hex digits (SHA-256, colons allowed)');
  return hex;
}

function readCaFile(file: string, cwd: string): string {
  let pem: string;
  try {
    pem = readFileSync(resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --ca-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    caFingerprint(pem);
  } catch {
    throw new UsageError(`--ca-file ${file} is not a PEM certificate`);
  }
  return pem;
}

/**
 * Fetches the server's CA without checking the certificate, then trusts it only if its
 * fingerprint is the one the operator gave (from the server's start output or a join token).
 */
async function fetchPinnedCa(server: string, fingerprint: string): Promise<string> {
  let res;
  try {
    res = await sendHttp({ url: new URL('/v1/ca.pem', server), method: 'GET', insecure: true, timeoutMs: 15_000 });
  } catch (err) {
    throw new CliError(`cannot fetch the CA of ${server}: ${err instanceof TransportError ? err.code : (err as Error).message}`);
  }
  if (res.status !== 200) throw new CliError(`${server} did not hand out its CA (HTTP ${res.status}): use --ca-file`);
  let actual: string;
  try {
    actual = caFingerprint(res.text);
  } catch {
    throw new CliError(`${server} sent a CA that is not a PEM certificate`);
  }
  if (actual !== fingerprint) throw new CliError(`the CA of ${server} has fingerprint ${actual}, not the ${fingerprint} you gave: not trusting it`);
  return res.text;
}

export function loginCommands(deps: CliDeps): Command[] {
  const { io } = deps;
  const path = () => configPath(io.env, io.home);

  const login = new Command('login')
    .description('save a control plane URL and API token as a context (checked first)')
    .option('--ca-file <file>', 'PEM of the CA to trust for an https server with its own CA')
    .option('--ca-fingerprint <sha256>', "trust the server's own CA if its SHA-256 fingerprint is this")
    .addHelpText(
      'after',
      `
Uses the global --server, --token and --context (the name to save as; default: the server's host).
The config lives in $XDG_CONFIG_HOME/gpufleet/config.yaml (or ~/.config/...), mode 0600.

Examples:
  gpufleet login --server http://127.0.0.1:7420 --token gft_abc_xyz
  gpufleet login --server https://fleet.example.com:7420 --token gft_abc_xyz \\
      --ca-fingerprint 5f1c...e9 --context prod        (fingerprint from \`gpufleet server\` output)
  gpufleet login --server https://fleet.internal --token gft_abc_xyz --ca-file ca.pem`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ server?: string; token?: string; context?: string; caFile?: string; caFingerprint?: string }>(cmd);
      const rawServer = o.server ?? io.env.GPUFLEET_SERVER;
      const rawToken = o.token ?? io.env.GPUFLEET_TOKEN;
      if (!rawServer) throw new UsageError('login needs --server <url>');
      if (!rawToken) throw new UsageError('login needs --token <api token>');
      const server = normalizeServerUrl(rawServer);
      const token = checkApiToken(rawToken);
      const name = checkContextName(o.context ?? contextNameFor(server));
      if (o.caFile && o.caFingerprint) throw new UsageError('give --ca-file or --ca-fingerprint, not both');
      const fingerprint = o.caFingerprint === undefined ? undefined : normalizeFingerprint(o.caFingerprint);
      if ((o.caFile || fingerprint) && !server.startsWith('https:')) throw new UsageError('a CA only applies to an https:// server');

      let caPem = o.caFile ? readCaFile(o.caFile, io.cwd) : undefined;
      if (fingerprint) caPem = await fetchPinnedCa(server, fingerprint);
      const client = new ApiClient({ server, token, ...(caPem ? { caPem } : {}), source: 'login' });
      const list = await client.get<{ total: number }>('/api/v1/nodes', { limit: 1 });

      const config = loadConfig(path());
      config.contexts[name] = { server, token, ...(caPem ? { caPem } : {}) };
      config.current = name;
      saveConfig(path(), config);
      io.out(`logged in to ${server} as context ${name} (${list.total} node${list.total === 1 ? '' : 's'}); saved in ${path()}\n`);
    });

  const logout = new Command('logout')
    .description('forget a saved context and its token (default: the current one)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet logout
  gpufleet logout lab`,
    )
    .argument('[name]', 'context to forget')
    .action(async (nameArg: string | undefined, _opts, cmd: Command) => {
      const config = loadConfig(path());
      const name = nameArg ?? deps.opts<{ context?: string }>(cmd).context ?? config.current;
      if (!name) throw new UsageError('not logged in to any context');
      if (!config.contexts[name]) throw new UsageError(`no context named '${name}' (see \`gpufleet context ls\`)`);
      delete config.contexts[name];
      if (config.current === name) config.current = null;
      saveConfig(path(), config);
      io.out(`logged out of context ${name}${config.current ? `; current context is ${config.current}` : ''}\n`);
    });

  const context = new Command('context').alias('contexts').description('list saved contexts and pick the current one');
  context.addHelpText(
    'after',
    `
Examples:
  gpufleet context ls
  gpufleet context use prod
  gpufleet nodes ls --context lab       one command against another context`,
  );
  context
    .command('ls')
    .alias('list')
    .description('list contexts (tokens are not shown)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet context ls`,
    )
    .action(async (_opts, cmd: Command) => {
      const config = loadConfig(path());
      const rows = Object.entries(config.contexts).map(([name, c]) => ({ name, current: name === config.current, server: c.server, ownCa: Boolean(c.caPem) }));
      print(io, deps.format(cmd), {
        data: { current: config.current, contexts: rows },
        columns: [
          { header: 'CURRENT', get: (r) => (r.current ? '*' : '') },
          { header: 'NAME', get: (r) => r.name },
          { header: 'SERVER', get: (r) => r.server },
          { header: 'CA', get: (r) => (r.ownCa ? 'pinned' : 'system') },
        ],
        rows,
        empty: 'no contexts: run gpufleet login --server URL --token TOKEN',
      });
    });
  context
    .command('use')
    .description('make a context the current one')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet context use prod`,
    )
    .argument('<name>', 'context name from `context ls`')
    .action(async (name: string) => {
      const config = loadConfig(path());
      if (!config.contexts[checkContextName(name)]) throw new UsageError(`no context named '${name}' (see \`gpufleet context ls\`)`);
      config.current = name;
      saveConfig(path(), config);
      io.out(`current context is now ${name} (${config.contexts[name]!.server})\n`);
    });

  return [login, logout, context];
}
