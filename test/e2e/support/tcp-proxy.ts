import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder between agents and the server, to cut the network without touching either:
 * `cut()` destroys every live connection and from then on accepts and immediately drops new
 * ones (what a dead link looks like to a dialing agent); `restore()` forwards again.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly live = new Set<Socket>();
  private isCut = false;
  /** Connections accepted and forwarded since start. */
  forwarded = 0;
  /** Connections accepted and dropped while cut. */
  refused = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Listens on an ephemeral loopback port; returns `http://127.0.0.1:<port>`. */
  async start(): Promise<string> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return `http://127.0.0.1:${this.port}`;
  }

  get cutOff(): boolean {
    return this.isCut;
  }

  /** Live forwarded sockets (both ends counted). */
  get connections(): number {
    return this.live.size;
  }

  cut(): void {
    this.isCut = true;
    for (const s of this.live) s.destroy();
    this.live.clear();
  }

  restore(): void {
    this.isCut = false;
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.isCut) {
      this.refused++;
      client.destroy();
      return;
    }
    this.forwarded++;
    const upstream = connect(this.targetPort, this.targetHost);
    for (const s of [client, upstream]) {
      this.live.add(s);
      s.setNoDelay(true);
      // Errors are expected here (a cut, the server killed): the pair is torn down, never thrown.
      s.on('error', () => undefined);
      s.on('close', () => {
        this.live.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
