import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Lambda Cloud API (/api/v1), answering with the bodies its OpenAPI
 * spec documents: `{ "data": ... }` on success, `{ "error": { code, message, suggestion } }` on
 * failure, with the documented codes and messages. It keeps instances in memory and can be told
 * to fail: a region without capacity, a quota, a bad key, throttling, slow or garbage answers.
 */

export interface FakeLambdaInstanceType {
  name: string;
  description: string;
  gpuDescription: string;
  priceCents: number;
  gpus: number;
}

export interface FakeLambdaInstance {
  id: string;
  name: string | null;
  ip: string;
  status: string;
  ssh_key_names: string[];
  file_system_names: string[];
  region: { name: string; description: string };
  instance_type: Record<string, unknown>;
  hostname: string;
  user_data: string | null;
}

/** One programmed answer for the next request that matches. */
export interface ScriptedAnswer {
  method: string;
  path: string;
  status: number;
  body: string;
  headers?: Record<string, string>;
}

const REGIONS: Record<string, string> = {
  'us-east-1': 'Virginia, USA',
  'us-west-1': 'California, USA',
  'us-tx-3': 'Austin, Texas',
};

/** Instance types as the docs' examples show them. */
export const DOCUMENTED_TYPES: FakeLambdaInstanceType[] = [
  { name: 'gpu_1x_a100_sxm4', description: '1x A100 SXM4 (40 GB)', gpuDescription: 'A100 (40 GB SXM4)', priceCents: 129, gpus: 1 },
  { name: 'gpu_8x_h100_sxm5', description: '8x H100 (80 GB SXM5)', gpuDescription: 'H100 (80 GB SXM5)', priceCents: 2392, gpus: 8 },
];

export const DOCUMENTED_ERRORS = {
  invalidApiKey: {
    code: 'global/invalid-api-key',
    message: 'API key was invalid, expired, or deleted.',
    suggestion: 'Check your API key or create a new one, then try again.',
  },
  quotaExceeded: { code: 'global/quota-exceeded', message: 'Quota exceeded.', suggestion: 'Contact Support to increase your quota.' },
  insufficientCapacity: {
    code: 'instance-operations/launch/insufficient-capacity',
    message: 'Not enough capacity to fulfill launch request.',
    suggestion: 'Choose an instance type with more availability, or try again later.',
  },
  invalidParameters: { code: 'global/invalid-parameters', message: 'Invalid request data.' },
  objectDoesNotExist: { code: 'global/object-does-not-exist', message: 'Specified object does not exist.' },
} as const;

export class FakeLambdaEndpoint {
  readonly apiKey = `secret_${randomBytes(8).toString('hex')}`;
  readonly instances = new Map<string, FakeLambdaInstance>();
  /** Launch request bodies, in order. */
  readonly launches: Array<Record<string, unknown>> = [];
  /** Every request as `METHOD path`, in order. */
  readonly requests: string[] = [];
  /** Regions with capacity, per instance type. */
  capacity = new Map<string, string[]>([
    ['gpu_1x_a100_sxm4', ['us-east-1', 'us-west-1']],
    ['gpu_8x_h100_sxm5', ['us-tx-3']],
  ]);
  /** Most instances the account may run; launches past it are refused with the quota error. */
  quota = 100;
  /** Milliseconds to wait before answering, per `METHOD path`. */
  readonly delays = new Map<string, number>();
  private readonly scripted: ScriptedAnswer[] = [];
  private server: Server | undefined;
  private seq = 0;

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new Error('fake lambda endpoint is not started');
    return `http://127.0.0.1:${addr.port}/api/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next request to `method path` gets this answer instead of the real one (first match wins). */
  answerNext(answer: ScriptedAnswer): void {
    this.scripted.push(answer);
  }

  /** The documented 429 with Retry-After. */
  throttleNext(method: string, path: string, retryAfterSeconds = 1): void {
    this.answerNext({
      method,
      path,
      status: 429,
      headers: { 'retry-after': String(retryAfterSeconds) },
      body: JSON.stringify({ error: { code: 'global/unknown', message: 'Too many requests.' } }),
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').replace(/^\/api\/v1/, '').split('?')[0] ?? '';
    const method = req.method ?? 'GET';
    const what = `${method} ${path}`;
    this.requests.push(what);
    const body = await readBody(req);
    const delay = this.delays.get(what);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    if (res.destroyed) return;
    const i = this.scripted.findIndex((s) => s.method === method && s.path === path);
    if (i >= 0) {
      const [s] = this.scripted.splice(i, 1);
      res.writeHead(s!.status, { 'content-type': 'application/json', ...s!.headers });
      res.end(s!.body);
      return;
    }
    if (!this.authorized(req.headers.authorization)) return reply(res, 401, { error: DOCUMENTED_ERRORS.invalidApiKey });
    let json: Record<string, unknown> = {};
    if (method === 'POST') {
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return reply(res, 400, { error: DOCUMENTED_ERRORS.invalidParameters });
      }
    }
    if (what === 'GET /instance-types') return reply(res, 200, { data: this.instanceTypes() });
    if (what === 'GET /instances') return reply(res, 200, { data: [...this.instances.values()].map(publicView) });
    if (method === 'GET' && path.startsWith('/instances/')) {
      const inst = this.instances.get(path.slice('/instances/'.length));
      return inst ? reply(res, 200, { data: publicView(inst) }) : reply(res, 404, { error: DOCUMENTED_ERRORS.objectDoesNotExist });
    }
    if (what === 'POST /instance-operations/launch') return this.launch(res, json);
    if (what === 'POST /instance-operations/terminate') return this.terminate(res, json);
    reply(res, 404, { error: DOCUMENTED_ERRORS.objectDoesNotExist });
  }

  /** Basic (key as the user name, as the docs' curl -u KEY: shows) or Bearer. */
  private authorized(header: string | undefined): boolean {
    if (!header) return false;
    if (header === `Bearer ${this.apiKey}`) return true;
    if (header.startsWith('Basic ')) return Buffer.from(header.slice(6), 'base64').toString() === `${this.apiKey}:`;
    return false;
  }

  private instanceTypes(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const t of DOCUMENTED_TYPES) {
      out[t.name] = {
        instance_type: typeView(t),
        regions_with_capacity_available: (this.capacity.get(t.name) ?? []).map((name) => ({ name, description: REGIONS[name] ?? name })),
      };
    }
    return out;
  }

  private launch(res: ServerResponse, body: Record<string, unknown>): void {
    this.launches.push(body);
    const type = DOCUMENTED_TYPES.find((t) => t.name === body.instance_type_name);
    const region = body.region_name;
    const keys = body.ssh_key_names;
    if (!type || typeof region !== 'string' || !(region in REGIONS) || !Array.isArray(keys) || keys.length !== 1) {
      return reply(res, 400, { error: DOCUMENTED_ERRORS.invalidParameters });
    }
    if (typeof body.name === 'string' && body.name.length > 64) return reply(res, 400, { error: DOCUMENTED_ERRORS.invalidParameters });
    if (this.instances.size >= this.quota) return reply(res, 400, { error: DOCUMENTED_ERRORS.quotaExceeded });
    if (!(this.capacity.get(type.name) ?? []).includes(region)) return reply(res, 400, { error: DOCUMENTED_ERRORS.insufficientCapacity });
    const n = ++this.seq;
    const id = randomBytes(16).toString('hex');
    this.instances.set(id, {
      id,
      name: typeof body.name === 'string' ? body.name : null,
      ip: `10.10.10.${n}`,
      status: 'booting',
      ssh_key_names: keys as string[],
      file_system_names: [],
      region: { name: region, description: REGIONS[region]! },
      instance_type: typeView(type),
      hostname: `10-10-10-${n}.cloud.lambdalabs.com`,
      user_data: typeof body.user_data === 'string' ? body.user_data : null,
    });
    reply(res, 200, { data: { instance_ids: [id] } });
  }

  private terminate(res: ServerResponse, body: Record<string, unknown>): void {
    const ids = body.instance_ids;
    if (!Array.isArray(ids) || ids.length === 0) return reply(res, 400, { error: DOCUMENTED_ERRORS.invalidParameters });
    const missing = ids.filter((id) => typeof id !== 'string' || !this.instances.has(id));
    if (missing.length > 0) return reply(res, 404, { error: DOCUMENTED_ERRORS.objectDoesNotExist });
    const terminated = ids.map((id: string) => {
      const inst = this.instances.get(id)!;
      this.instances.delete(id);
      return publicView({ ...inst, status: 'terminated' });
    });
    reply(res, 200, { data: { terminated_instances: terminated } });
  }
}

function typeView(t: FakeLambdaInstanceType): Record<string, unknown> {
  return {
    name: t.name,
    description: t.description,
    gpu_description: t.gpuDescription,
    price_cents_per_hour: t.priceCents,
    specs: { vcpus: 30 * t.gpus, memory_gib: 200 * t.gpus, storage_gib: 512 * t.gpus, gpus: t.gpus },
  };
}

/** The instance as GET /instances shows it (user data is not echoed back). */
function publicView(inst: FakeLambdaInstance): Record<string, unknown> {
  const { user_data: _userData, ...rest } = inst;
  return rest;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
