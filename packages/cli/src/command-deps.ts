import type { Command } from 'commander';
import { ApiClient } from './api-client.js';
import { resolveConnection, type ConnectionFlags } from './connection.js';
import type { CliIo } from './io.js';
import { parseOutputFormat, type OutputFormat } from './output.js';

/** What every command group gets: the io, a clock, and helpers that read the global flags. */
export interface CliDeps {
  io: CliIo;
  now(): number;
  /** A client for the control plane picked by --server/--token/--context, env and config. */
  client(cmd: Command): ApiClient;
  /** The -o format. */
  format(cmd: Command): OutputFormat;
  /** All options of the command, its parents' (global) ones included. */
  opts<T = Record<string, unknown>>(cmd: Command): T;
}

export function createDeps(io: CliIo, now: () => number = Date.now): CliDeps {
  const opts = <T>(cmd: Command): T => cmd.optsWithGlobals() as T;
  return {
    io,
    now,
    opts,
    client(cmd) {
      const o = opts<ConnectionFlags>(cmd);
      return new ApiClient(resolveConnection({ server: o.server, token: o.token, context: o.context }, io));
    },
    format(cmd) {
      return parseOutputFormat(opts<{ output?: string }>(cmd).output);
    },
  };
}
