/** The `gpufleet` CLI as a library: run a command line in-process, or reuse its pieces. */
export { runCli, type RunOptions } from './cli.js';
export { buildProgram } from './program.js';
export { createDeps, type CliDeps } from './command-deps.js';
export { processIo, type CliIo } from './io.js';
export { ApiClient, ApiError, type Connection } from './api-client.js';
export { resolveConnection, LOCAL_SERVER, type ConnectionFlags } from './connection.js';
export { loadConfig, saveConfig, configPath, type CliConfig, type CliContext } from './config-file.js';
export { renderTable, renderData, OUTPUT_FORMATS, type OutputFormat, type Column } from './output.js';
export { UsageError, CliError, exitCodeOf, errorLine } from './errors.js';
