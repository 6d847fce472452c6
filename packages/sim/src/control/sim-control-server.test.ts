import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { FakeHardwareBackend } from '../fake-backend.js';
import type { FaultSpec } from '../faults/fault-spec.js';
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
        if (spec.host !== 'sim-h100-001') throw new FleetError('not_found', `no simulated host '${spec.host}'`);
        if (spec.inject === 'network-drop') throw new FleetError('failed_precondition', 'needs linkProxy');
        seen.push(spec);
        return { at: 1, hostname: spec.host, kind: spec.inject, summary: 'done', lines: [], writtenAt: 2 };
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
