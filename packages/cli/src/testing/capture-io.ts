import type { CliIo } from '../io.js';

/** A CliIo that records what a command prints; for running commands in-process in tests. */
export interface CapturedIo extends CliIo {
  stdout: string;
  stderr: string;
  /** Fires the interrupt handlers a command registered (as Ctrl-C would). */
  interrupt(reason?: string): void;
}

export interface CaptureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  home?: string;
  columns?: number;
  rows?: number;
  stdin?: string;
  stdoutIsTty?: boolean;
  stdinIsTty?: boolean;
  answers?: boolean[];
}

export function captureIo(opts: CaptureOptions = {}): CapturedIo {
  const handlers = new Set<(reason: string) => void>();
  const answers = [...(opts.answers ?? [])];
  const io: CapturedIo = {
    stdout: '',
    stderr: '',
    out(text) {
      io.stdout += text;
    },
    err(text) {
      io.stderr += text;
    },
    env: opts.env ?? {},
    cwd: opts.cwd ?? process.cwd(),
    home: opts.home ?? '/nonexistent-home',
    columns: opts.columns,
    rows: opts.rows,
    stdoutIsTty: opts.stdoutIsTty ?? false,
    stdinIsTty: opts.stdinIsTty ?? false,
    readStdin: async () => opts.stdin ?? '',
    confirm: async () => answers.shift() ?? false,
    onInterrupt(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    interrupt(reason = 'SIGINT') {
      for (const h of [...handlers]) h(reason);
    },
  };
  return io;
}
