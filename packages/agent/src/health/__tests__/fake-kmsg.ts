import type { KmsgFs } from '../kmsg-source.js';

function errno(code: string): NodeJS.ErrnoException {
  const e = new Error(code) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/**
 * A stand-in for /dev/kmsg in tests: a ring of records; each read returns the next one or
 * EAGAIN; errors (EPIPE, EIO) can be queued; open can be refused (EACCES). Each open starts
 * at the oldest record, as the real device does.
 */
export class FakeKmsg implements KmsgFs {
  ring: string[] = [];
  private cursor = new Map<number, number>();
  private nextFd = 10;
  readonly errors: string[] = [];
  refuseOpen: string | null = null;
  opens = 0;
  closes = 0;

  add(...records: string[]): void {
    this.ring.push(...records);
  }

  openSync(_path: string, _flags: number): number {
    if (this.refuseOpen) throw errno(this.refuseOpen);
    this.opens++;
    const fd = this.nextFd++;
    this.cursor.set(fd, 0);
    return fd;
  }

  readSync(fd: number, buffer: Buffer, offset: number, _length: number, _position: null): number {
    const at = this.cursor.get(fd);
    if (at === undefined) throw errno('EBADF');
    const err = this.errors.shift();
    if (err) {
      // After EPIPE the real device skips to the oldest record still there.
      throw errno(err);
    }
    if (at >= this.ring.length) throw errno('EAGAIN');
    this.cursor.set(fd, at + 1);
    return buffer.write(this.ring[at]!, offset);
  }

  closeSync(fd: number): void {
    this.closes++;
    this.cursor.delete(fd);
  }
}
