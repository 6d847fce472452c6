import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { SpawnedChild, SpawnFn } from '../spawn-source.js';

/** A child process for tests: write to its stdout, make it exit. */
export class FakeChild extends EventEmitter implements SpawnedChild {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  killed: string | null = null;

  constructor(
    readonly command: string,
    readonly args: readonly string[],
  ) {
    super();
  }

  print(text: string): void {
    this.stdout.write(text);
  }

  exit(code: number | null = 0): void {
    this.emit('exit', code, null);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.killed = signal;
    return true;
  }
}

/** A spawn that records every child it made. */
export function fakeSpawn(): { spawn: SpawnFn; children: FakeChild[] } {
  const children: FakeChild[] = [];
  return {
    children,
    spawn: (command, args) => {
      const c = new FakeChild(command, args);
      children.push(c);
      return c;
    },
  };
}
