import { request, type IncomingMessage } from 'node:http';

export interface SseEvent {
  event: string;
  data: any;
}

/**
 * A plain HTTP reader of an SSE stream for tests: parses events as they come, counts bytes,
 * and can stop reading (the socket is paused, so the kernel buffers fill and the server sees a
 * stalled reader) and start again.
 */
export class SseReader {
  readonly events: SseEvent[] = [];
  /** Bytes of body taken so far. */
  bytes = 0;
  /** Resolves when the connection ends, cleanly or not. */
  readonly ended: Promise<void>;
  private text = '';
  private waiters: Array<{
    test: (e: SseEvent) => boolean;
    resolve: (e: SseEvent) => void;
    reject: (err: Error) => void;
    timer: ReturnType<typeof setTimeout>;
  }> = [];
  private from = 0;

  private constructor(
    readonly res: IncomingMessage,
    private readonly timeoutMs: number,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => this.take(chunk));
    this.ended = new Promise((resolve) => {
      res.on('close', () => resolve());
      res.on('error', () => resolve());
    });
  }

  /** Opens `path` with a bearer token; rejects with the status and body when the answer is not 200. */
  static open(baseUrl: string, path: string, token: string | null, timeoutMs = 10_000): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = request(baseUrl + path, { headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
          return;
        }
        resolve(new SseReader(res, timeoutMs));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** The next event (after those already returned) that passes `test`. */
  next(test: (e: SseEvent) => boolean = () => true): Promise<SseEvent> {
    for (let i = this.from; i < this.events.length; i++) {
      if (test(this.events[i]!)) {
        this.from = i + 1;
        return Promise.resolve(this.events[i]!);
      }
    }
    this.from = this.events.length;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching event within ${this.timeoutMs} ms; got ${this.events.map((e) => e.event).join(', ')}`)),
        this.timeoutMs,
      );
      this.waiters.push({ test, resolve, reject, timer });
    });
  }

  /** Stops reading: nothing more is taken from the socket until `resume`. */
  pause(): void {
    this.res.pause();
    this.res.socket?.pause();
  }

  resume(): void {
    this.res.socket?.resume();
    this.res.resume();
  }

  close(): void {
    this.res.destroy();
  }

  private take(chunk: string): void {
    this.bytes += Buffer.byteLength(chunk);
    this.text += chunk;
    let cut: number;
    while ((cut = this.text.indexOf('\n\n')) >= 0) {
      const block = this.text.slice(0, cut);
      this.text = this.text.slice(cut + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length === 0) continue;
      const e: SseEvent = { event, data: JSON.parse(data.join('\n')) };
      this.events.push(e);
      const w = this.waiters.find((x) => x.test(e));
      if (w) {
        clearTimeout(w.timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        this.from = this.events.length;
        w.resolve(e);
      }
    }
  }
}
