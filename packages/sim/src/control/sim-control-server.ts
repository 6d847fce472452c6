import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FleetError } from '@gpufleet/protocol';
import { errorText, silentLogger, type Logger } from '@gpufleet/agent';
import type { FaultInjector, InjectionRecord } from '../faults/fault-injector.js';
import { FaultSpec } from '../faults/fault-spec.js';
import type { SimHost } from '../fleet.js';

/** What `<file>` holds: where the control endpoint listens and the token it takes. */
export interface SimControlFile {
  url: string;
  token: string;
  pid: number;
}

/** A simulated host as GET /v1/hosts lists it. */
export interface SimControlHost {
  hostname: string;
  nodeId: string;
  model: string;
  gpus: number;
}

export interface SimControlServerOptions {
  /** The running fleet's hosts. */
  hosts: () => readonly Pick<SimHost, 'hostname' | 'nodeId' | 'model' | 'backend'>[];
  injector: Pick<FaultInjector, 'inject'>;
  /** Written (mode 0600) once listening, removed on stop: `{ url, token, pid }`. */
  file: string;
  logger?: Logger;
}

const MAX_BODY = 64 * 1024;
const STATUS: Record<string, number> = { invalid_argument: 400, not_found: 404, failed_precondition: 409, unauthenticated: 401 };

/**
 * The control channel of a running simulated fleet (`gpufleet demo`): a loopback-only HTTP
 * endpoint that injects faults (`gpufleet sim inject`). It listens on 127.0.0.1 on a free port
 * and takes one bearer token; both are written to a 0600 file in the data dir, so only the
 * user who runs the demo can reach it. POST /v1/faults takes a FaultSpec (the scenario-file
 * shape; `host` may be a hostname or a node id; allocation faults and faults aimed at an
 * allocation's host name it as `alloc`: job/name or id) and answers with the injection record;
 * GET /v1/hosts lists the hosts. Errors are `{ error: { code, message } }`.
 */
export class SimControlServer {
  private server: Server | null = null;
  private readonly token = randomBytes(32).toString('base64url');
  private readonly logger: Logger;
  private address: string | null = null;

  constructor(private readonly o: SimControlServerOptions) {
    this.logger = o.logger ?? silentLogger;
  }

  /** http://127.0.0.1:PORT once started. */
  get url(): string {
    if (!this.address) throw new FleetError('failed_precondition', 'the sim control server is not started');
    return this.address;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const doc: SimControlFile = { url: this.address, token: this.token, pid: process.pid };
    const tmp = `${this.o.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(doc)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.o.file);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    // Only our own file: a demo started later on the same data dir keeps its.
    try {
      if ((JSON.parse(readFileSync(this.o.file, 'utf8')) as SimControlFile).token === this.token) rmSync(this.o.file, { force: true });
    } catch {
      // gone already or unreadable: nothing of ours to remove
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private authorized(req: IncomingMessage): boolean {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const given = Buffer.from(m[1]!);
    const want = Buffer.from(this.token);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const fail = (status: number, code: string, message: string) => send(status, { error: { code, message } });
    try {
      if (!this.authorized(req)) return fail(401, 'unauthenticated', 'a valid bearer token is needed (it is in the sim control file of the data dir)');
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method === 'GET' && path === '/v1/hosts') {
        const hosts: SimControlHost[] = this.o
          .hosts()
          .map((h) => ({ hostname: h.hostname, nodeId: h.nodeId, model: h.model, gpus: h.backend.gpuIds().length }));
        return send(200, { hosts });
      }
      if (req.method === 'POST' && path === '/v1/faults') {
        const body = await readJson(req);
        const record = await this.inject(body);
        return send(201, record);
      }
      return fail(404, 'not_found', `no route ${req.method} ${path} (GET /v1/hosts, POST /v1/faults)`);
    } catch (err) {
      const code = err instanceof FleetError ? err.code : 'internal';
      if (!(err instanceof FleetError)) this.logger.error('sim control request failed', { err: errorText(err) });
      return fail(STATUS[code] ?? 500, code, errorText(err));
    }
  }

  private async inject(body: unknown): Promise<InjectionRecord> {
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new FleetError('invalid_argument', 'the body must be a JSON object such as {"inject":"xid","host":"sim-h100-001","gpu":0,"code":79}');
    const input = { ...(body as Record<string, unknown>) };
    // A node id names a host too (what `gpufleet nodes ls -o wide` shows).
    if (typeof input.host === 'string') {
      const byId = this.o.hosts().find((h) => h.nodeId === input.host);
      if (byId) input.host = byId.hostname;
    }
    const parsed = FaultSpec.safeParse(input);
    if (!parsed.success) throw new FleetError('invalid_argument', parsed.error.issues.map((i) => `${i.path.join('.') || 'fault'}: ${i.message}`).join('; '));
    return this.o.injector.inject(parsed.data);
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest is read and dropped, so the answer still reaches the client.
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > MAX_BODY) return reject(new FleetError('invalid_argument', `the body is larger than ${MAX_BODY} bytes`));
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new FleetError('invalid_argument', 'the body is not JSON'));
      }
    });
  });
}
