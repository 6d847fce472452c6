#!/usr/bin/env node
import { runCli } from './cli.js';
import { errorLine } from './errors.js';
import { processIo } from './io.js';

// A failure outside any command's await (a background timer, a socket) still ends as one line.
const fatal = (err: unknown) => {
  process.stderr.write(`${errorLine(err)}\n`);
  if (process.env.GPUFLEET_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

const code = await runCli(process.argv.slice(2), processIo());
process.exitCode = code;
// Long-running commands (server, demo, top) return after a clean stop; leftover handles
// (keep-alive sockets) must not keep the process alive after that.
if (['server', 'demo', 'sim', 'top', 'agent'].includes(process.argv[2] ?? '')) process.exit(code);
