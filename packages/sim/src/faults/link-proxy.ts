import { connect, createServer, type Server, type Socket } from 'node:net';
import { FleetError } from '@gpufleet/protocol';

/**
 * One simulated host's network link: a TCP forwarder on a loopback port between the host's
 * agent and the server. `cut()` is the cable pulled: every live connection is destroyed
 * (the agent and the server see the socket die without a close frame), and new dials are
 * accepted and dropped at once until `restore()`. Neither the agent nor the server is touched.
 */
export class LinkProxy {
  private server: Server | null = null;
  private readonly live = new Set<Socket>();
  private isCut = false;
  private listenPort = 0;
  /** Connections forwarded, and dials dropped while cut. */
  readonly stats = { forwarded: 0, dropped: 0, cuts: 0 };

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65_535)
      throw new FleetError('invalid_argument', `link proxy target port must be 1 to 65535, got ${targetPort}`);
  }

  /** A proxy in front of the server at `serverUrl` (http or https: TLS passes through untouched). */
  static forUrl(serverUrl: string): LinkProxy {
    const url = new URL(serverUrl);
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    return new LinkProxy(url.hostname.replace(/^\[|\]$/g, ''), port);
  }

  /** Listens on an ephemeral loopback port. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.listenPort = typeof address === 'object' && address ? address.port : 0;
  }

  /** The server URL as seen through this proxy (same scheme and path, the proxy's address). */
  urlFor(serverUrl: string): string {
    if (!this.listenPort) throw new FleetError('failed_precondition', 'the link proxy is not started');
    const url = new URL(serverUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.listenPort);
    return url.toString().replace(/\/+$/, '');
  }

  get port(): number {
    return this.listenPort;
  }

  get cutOff(): boolean {
    return this.isCut;
  }

  /** Live forwarded sockets (both ends counted). */
  get connections(): number {
    return this.live.size;
  }

  cut(): void {
    if (!this.isCut) this.stats.cuts++;
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
      this.stats.dropped++;
      client.destroy();
      return;
    }
    this.stats.forwarded++;
    const upstream = connect(this.targetPort, this.targetHost);
    for (const s of [client, upstream]) {
      this.live.add(s);
      s.setNoDelay(true);
      // A cut or a stopped server tears the pair down; nothing here may throw.
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
