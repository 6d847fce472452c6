/**
 * A small JSON-lines logger for the agent. No pino on GPU hosts: one line per record, written
 * synchronously enough for journald, with a level filter. Tests and the simulator pass their own.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export interface JsonLoggerOptions {
  /** Records below this level are dropped. Default 'info'. */
  level?: LogLevel;
  /** Where lines go. Default process.stderr (stdout stays free for command results). */
  write?: (line: string) => void;
  /** Fields put on every record, e.g. `{ node: 'sim-h100-001' }`. */
  fields?: Record<string, unknown>;
  now?: () => number;
}

/** Logger writing `{"ts","level","msg",...fields}` lines. */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? 'info');
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const now = options.now ?? Date.now;
  const base = options.fields ?? {};
  const emit = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    let line: string;
    try {
      line = JSON.stringify({ ts: new Date(now()).toISOString(), level, msg, ...base, ...fields });
    } catch {
      // A field that cannot be serialized (a cycle, a BigInt) must not take the agent down.
      line = JSON.stringify({ ts: new Date(now()).toISOString(), level, msg, ...base, fieldsError: 'unserializable fields' });
    }
    write(`${line}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** A logger that drops everything (the simulator's default for 10,000 agents). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Wraps a logger so every record also carries `fields`. */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (msg, f) => logger.debug(msg, { ...fields, ...f }),
    info: (msg, f) => logger.info(msg, { ...fields, ...f }),
    warn: (msg, f) => logger.warn(msg, { ...fields, ...f }),
    error: (msg, f) => logger.error(msg, { ...fields, ...f }),
  };
}

/** Text of an unknown thrown value, for log fields and one-line errors. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
