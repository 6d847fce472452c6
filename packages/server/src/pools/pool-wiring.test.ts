import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enrollmentMessage, generateEd25519, signEd25519 } from '@gpufleet/protocol';
import { resolveServerConfig } from '../config/server-config.js';
import { startServer, type RunningServer } from '../server.js';
import { testGpu, testHostFacts } from '../testing/fake-host.js';
import { tokenParts } from '../testing/protocol-client.js';
import { ScriptedCloud } from './__tests__/scripted-provider.js';

const dirs: string[] = [];
let server: RunningServer | null = null;

afterEach(async () => {
  await server?.stop();
  server = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(): string {
  const d = mkdtempSync(join(tmpdir(), 'gpufleet-pool-wiring-'));
  dirs.push(d);
  return d;
}

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('pools in gpufleet server', () => {
  it('applies --pools at start and reaches min_nodes through the given provider, driven by node events', async () => {
    const dir = folder();
    const poolsFile = join(dir, 'pools.yaml');
    writeFileSync(
      poolsFile,
      'providers:\n  lab: { type: sim }\npools:\n  train:\n    provider: lab\n    instance_type: sim.h100x8\n    min_nodes: 2\n    max_nodes: 3\n',
    );
    let seq = 0;
    // The scripted cloud's hosts enroll over the real enrollment service and come online as an agent's session would make them.
    const cloud = new ScriptedCloud(async (req) => {
      const [tokenId, secret] = tokenParts(req.joinToken);
      const key = generateEd25519();
      const ctx = server!.context;
      const res = await ctx.enrollment.enroll({
        tokenId,
        secret,
        nodeId: key.did,
        signature: signEd25519(key.privateKeyPem, enrollmentMessage(tokenId, key.did)),
        host: testHostFacts(`wired-${++seq}`),
        gpus: [testGpu(0), testGpu(1)],
      });
      ctx.registry.seen(res.nodeId);
      return res.nodeId;
    });
    cloud.joinMode = 'manual';
    // An hour between timed passes: what happens after start comes from node events.
    const config = resolveServerConfig({
      flags: { listen: '127.0.0.1:0', dataDir: join(dir, 'data'), logLevel: 'silent', pools: poolsFile, poolReconcile: '1h' },
    });
    server = await startServer(config, { logger: false, providers: { sim: cloud.factory } });
    const pools = server.context.pools;
    await until('two provisions', async () => cloud.running().length === 2);
    for (const inst of cloud.running()) await cloud.join(inst.id);
    await until('two READY nodes', async () => (await pools.list())[0]?.ready === 2);
    const detail = await pools.get('train');
    expect(detail).toMatchObject({ providerType: 'sim', desired: 2, current: 2, inFlight: 0 });
    expect(detail.operations.map((o) => o.stage)).toEqual(['done', 'done']);
    const applied = (await pools.events('train', {})).find((e) => e.kind === 'applied');
    expect(applied?.message).toMatch(/^created by server:--pools: lab sim\.h100x8, 2\.\.3 nodes$/);
    const audit = await server.context.store.listAudit({ limit: 50 });
    expect(JSON.stringify(audit)).toContain('pools.apply');
  });

  it('a bad pools file stops start-up with its line and field', async () => {
    const dir = folder();
    const poolsFile = join(dir, 'pools.yaml');
    writeFileSync(
      poolsFile,
      'providers:\n  lab: { type: sim }\npools:\n  train:\n    provider: lab\n    instance_type: sim.h100x8\n    min_nodes: 5\n    max_nodes: 3\n',
    );
    const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir: join(dir, 'data'), logLevel: 'silent', pools: poolsFile } });
    await expect(startServer(config, { logger: false })).rejects.toThrow(/pools\.yaml:7:.*min_nodes/);
  });
});
