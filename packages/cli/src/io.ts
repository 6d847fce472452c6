import { homedir } from 'node:os';

/**
 * Everything a command touches outside its arguments: output streams, environment, working
 * folder, terminal facts, stdin and signals. Commands take it as a parameter so tests run them
 * in-process and capture what they print; `processIo()` wires the real process.
 */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  /** Terminal width when stdout is a terminal (or COLUMNS is set); undefined means no limit. */
  columns: number | undefined;
  /** Terminal height when stdout is a terminal. */
  rows: number | undefined;
  stdoutIsTty: boolean;
  /** Whether stderr is a terminal; undefined reads as stdout's answer. */
  stderrIsTty?: boolean;
  stdinIsTty: boolean;
  /** All of stdin as text (for `--from -`). */
  readStdin(): Promise<string>;
  /** Asks a yes/no question on the terminal; false unless the answer starts with y. */
  confirm(question: string): Promise<boolean>;
  /**
   * Calls `handler` on SIGINT/SIGTERM (and on `q` / Ctrl-C keys when `keys` is set and stdin is
   * a terminal). Returns a function that removes the handlers and restores the terminal.
   */
  onInterrupt(handler: (reason: string) => void, opts?: { keys?: boolean }): () => void;
}

function columnsOf(env: NodeJS.ProcessEnv): number | undefined {
  if (process.stdout.isTTY && process.stdout.columns) return process.stdout.columns;
  const fromEnv = Number(env.COLUMNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : undefined;
}

/**
 * Ends the process quietly (exit 0) when the reader of `stream` goes away (`gpufleet nodes ls |
 * head`): the rest of the output has nowhere to go, and that is not a failure to report.
 * Other stream errors stay errors. Idempotent per stream.
 */
export function exitQuietlyOnEpipe(stream: NodeJS.WriteStream, exit: (code: number) => void = (code) => process.exit(code)): void {
  if ((stream as { gpufleetEpipe?: boolean }).gpufleetEpipe) return;
  (stream as { gpufleetEpipe?: boolean }).gpufleetEpipe = true;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return exit(0);
    throw err;
  });
}

/** The real process: stdout, stderr, env, signals and the terminal. */
export function processIo(): CliIo {
  const env = process.env;
  exitQuietlyOnEpipe(process.stdout);
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    env,
    cwd: process.cwd(),
    home: homedir(),
    get columns() {
      return columnsOf(env);
    },
    get rows() {
      return process.stdout.isTTY ? process.stdout.rows : undefined;
    },
    stdoutIsTty: Boolean(process.stdout.isTTY),
    stderrIsTty: Boolean(process.stderr.isTTY),
    stdinIsTty: Boolean(process.stdin.isTTY),
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      return Buffer.concat(chunks).toString('utf8');
    },
    async confirm(question) {
      const { createInterface } = await import('node:readline/promises');
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await rl.question(`${question} [y/N] `);
        return /^y(es)?$/i.test(answer.trim());
      } finally {
        rl.close();
      }
    },
    onInterrupt(handler, opts = {}) {
      const onSigint = () => handler('SIGINT');
      const onSigterm = () => handler('SIGTERM');
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigterm);
      const useKeys = Boolean(opts.keys && process.stdin.isTTY);
      // Raw mode delivers single keys (q) and Ctrl-C as a byte instead of a signal.
      const onData = (data: Buffer) => {
        const key = data.toString('utf8');
        if (key === 'q' || key === 'Q' || key === '\u0003') handler(key === '\u0003' ? 'SIGINT' : 'q');
      };
      if (useKeys) {
        process.stdin.setRawMode(true);
        process.stdin.on('data', onData);
        process.stdin.resume();
      }
      return () => {
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigterm);
        if (useKeys) {
          process.stdin.off('data', onData);
          process.stdin.setRawMode(false);
          process.stdin.pause();
        }
      };
    },
  };
}
