#!/usr/bin/env node
import { runAgentCommand } from './runtime/commands.js';

// The whole program is the command function; it never throws and prints errors as one line.
const code = await runAgentCommand(process.argv.slice(2));
process.exitCode = code;
// Normally the event loop is empty by now; if a stuck vendor tool still holds it, do not hang a systemd stop.
setTimeout(() => process.exit(code), 2000).unref();
