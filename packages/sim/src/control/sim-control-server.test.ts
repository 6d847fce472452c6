import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { FakeHardwareBackend } from '../fake-backend.js';
import { FaultInjector } from '../faults/fault-injector.js';
import { faultHost, type FaultSpec } from '../faults/fault-spec.js';
import { SimWorkloads } from '../workloads/sim-workloads.js';
import { SimControlServer, type SimControlFile } from './sim-control-server.js';

let dir: string;
let server: SimControlServer;
let seen: FaultSpec[];
const clock = { now: () => Date.UTC(2026, 0, 1) };
const hosts = [
  {
    hostname: 'sim-h100-001',
    nodeId: 'did:key:z6MkSimHost1',
    model: 'H100' as const,
    backend: new FakeHardwareBackend({ hostname: 'sim-h100-001', model: 'H100', seed: 1, clock }),
  },
];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-sim-control-'));
  seen = [];
  server = new SimControlServer({
    hosts: () => hosts,
    file: join(dir, 'sim-control.json'),
    injector: {
      inject: async (spec) => {
        if (faultHost(spec) !== 'sim-h100-001') throw new FleetError('not_found', `no simulated host '${faultHost(spec)}'`);
        if (spec.inject === 'network-drop') throw new FleetError('failed_precondition', 'needs linkProxy');
        seen.push(spec);
        return { at: 1, hostname: faultHost(spec)!, kind: spec.inject, summary: 'done', lines: [], writtenAt: 2 };
      },
    },
  });
  await server.start();
});
afterEach(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function control(): SimControlFile {
  return JSON.parse(readFileSync(join(dir, 'sim-control.json'), 'utf8')) as SimControlFile;
}

async function post(body: string, token = control().token) {
  const res = await fetch(`${server.url}/v1/faults`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } & Record<string, unknown> };
}

describe('SimControlServer', () => {
  it('listens on loopback and writes its address and token to a 0600 file, removed on stop', async () => {
    expect(statSync(join(dir, 'sim-control.json')).mode & 0o777).toBe(0o600);
    expect(control()).toMatchObject({ url: server.url, pid: process.pid });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await server.stop();
    expect(existsSync(join(dir, 'sim-control.json'))).toBe(false);
  });

  it('injects a valid fault, a node id naming its host', async () => {
    const r = await post(JSON.stringify({ inject: 'thermal', host: 'did:key:z6MkSimHost1', gpu: 1, target: 90, ramp: '2s' }));
    expect(r.status).toBe(201);
    expect(seen).toEqual([{ inject: 'thermal', host: 'sim-h100-001', gpu: 1, target: 90, ramp: 2000 }]);
  });

  it('refuses without the token, and garbage with a clear 4xx', async () => {
    expect((await post('{}', 'wrong')).status).toBe(401);
    const noAuth = await fetch(`${server.url}/v1/faults`, { method: 'POST', body: '{}' });
    expect(noAuth.status).toBe(401);
    const cases: [string, number, RegExp][] = [
      ['not json', 400, /not JSON/],
      ['[1,2]', 400, /JSON object/],
      ['{"inject":"meteor","host":"sim-h100-001"}', 400, /inject must be one of xid/],
      ['{"inject":"xid","host":"sim-h100-001","gpu":-1,"code":79}', 400, /gpu/],
      ['{"inject":"xid","host":"sim-h100-001","gpu":0,"code":79,"extra":1}', 400, /extra/],
      ['{"inject":"xid","host":"sim-x","gpu":0,"code":79}', 404, /no simulated host 'sim-x'/],
      ['{"inject":"network-drop","host":"sim-h100-001","duration":"1s"}', 409, /linkProxy/],
      [`{"inject":"xid","host":"${'h'.repeat(70_000)}"}`, 400, /larger than/],
    ];
    for (const [body, status, message] of cases) {
      const r = await post(body);
      expect(r.status, body.slice(0, 60)).toBe(status);
      expect(r.body.error?.message, body.slice(0, 60)).toMatch(message);
    }
    expect(seen).toEqual([]);
    const unknown = await fetch(`${server.url}/v1/nope`, { headers: { authorization: `Bearer ${control().token}` } });
    expect(unknown.status).toBe(404);
  });
});

describe('SimControlServer: allocation faults', () => {
  it('crashes an allocation and fails its health through a real injector; unknown ones are 404, garbage 400', async () => {
    const workloads = new SimWorkloads({ seed: 1, startDelayMs: { min: 0, max: 0 } });
    const host = hosts[0]!;
    const injector = new FaultInjector({
      seed: 1,
      fleet: { host: () => ({ ...host, kernelLogPath: null, link: null }), crashAgent: async () => undefined, restartAgent: async () => undefined, workloads },
    });
    const allocDir = mkdtempSync(join(tmpdir(), 'gpufleet-sim-control-alloc-'));
    const allocServer = new SimControlServer({ hosts: () => hosts, injector, file: join(allocDir, 'sim-control.json') });
    await allocServer.start();
    try {
      const [executor] = workloads.executorsFor('sim-h100-001');
      const gpu = host.backend.gpuIds()[4]!;
      const running = await executor!.start(
        {
          allocId: 'alloc-dddd0001',
          job: 'llama',
          name: 'web-0',
          group: 'web',
          jobVersion: 1,
          specHash: 'c'.repeat(64),
          spec: {
            count: 1,
            executor: 'container',
            image: 'busybox',
            env: {},
            resources: { gpus: 1 },
            restart: { attempts: 0, within: 0, delay: 0 },
            stop_grace: 0,
          },
          gpus: [{ index: 4, uuid: gpu.uuid, vendor: 'nvidia', pciBusId: gpu.pciBusId }],
          env: {},
        },
        () => undefined,
      );
      const token = (JSON.parse(readFileSync(join(allocDir, 'sim-control.json'), 'utf8')) as SimControlFile).token;
      const send = async (body: unknown) => {
        const res = await fetch(`${allocServer.url}/v1/faults`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
        return { status: res.status, body: (await res.json()) as { summary?: string; hostname?: string; error?: { message: string } } };
      };
      const unhealthy = await send({ inject: 'alloc-unhealthy', alloc: 'llama/web-0', duration: '1m' });
      expect(unhealthy.status).toBe(201);
      expect(unhealthy.body.summary).toBe('llama/web-0 (alloc-dddd0001) fails its health checks for 60000 ms');
      expect(await running.simulatedHealth!()).toBe(false);
      const crash = await send({ inject: 'alloc-crash', alloc: 'alloc-dddd0001', exitCode: 9 });
      expect(crash).toMatchObject({ status: 201, body: { hostname: 'sim-h100-001', summary: 'llama/web-0 (alloc-dddd0001) crashed with exit code 9' } });
      expect(await running.exited).toEqual({ exitCode: 9, signal: null });
      const gone = await send({ inject: 'alloc-crash', alloc: 'llama/web-0' });
      expect(gone.status).toBe(404);
      expect(gone.body.error?.message).toMatch(/no running simulated allocation 'llama\/web-0' \(none runs\)/);
      const garbage = await send({ inject: 'alloc-unhealthy', alloc: '../../etc' });
      expect(garbage.status).toBe(400);
      expect(garbage.body.error?.message).toMatch(/alloc: expected an allocation/);
    } finally {
      await allocServer.stop();
      rmSync(allocDir, { recursive: true, force: true });
    }
  });
});
