import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { FleetError } from '@gpufleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus, DurableMessage } from './bus.js';
import { describeBusContract } from './__tests__/bus-contract.js';
import { NatsBus } from './nats-bus.js';

/**
 * NATS with JetStream of this machine and of CI. Not skipped when absent: the run fails, so a
 * broken NATS setup cannot pass unnoticed. GPUFLEET_TEST_NATS overrides the URL.
 */
const NATS_URL = process.env.GPUFLEET_TEST_NATS ?? 'nats://127.0.0.1:4222';

// Every test gets a namespace of its own under this run's prefix: parallel runs and leftovers of
// crashed ones cannot meet, and afterAll removes whatever a failed test left.
const RUN = `gftest${randomBytes(4).toString('hex')}`;
let namespaces = 0;
const freshNamespace = () => `${RUN}-${++namespaces}`;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Deletes the streams (the durable one and KV buckets) whose names start with a namespace. */
async function removeStreams(nc: NatsConnection, prefix: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const doomed: string[] = [];
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`${prefix}`) || name.startsWith(`KV_${prefix}`)) doomed.push(name);
  }
  await Promise.all(doomed.map((name) => jsm.streams.delete(name)));
}

let admin: NatsConnection;

beforeAll(async () => {
  admin = await connect({ servers: NATS_URL, name: 'gpufleet-bus-tests' });
});

afterAll(async () => {
  await removeStreams(admin, RUN);
  await admin.close();
});

describeBusContract('nats', async () => {
  const namespace = freshNamespace();
  const buses: Bus[] = [];
  return {
    async open(options) {
      const bus = await NatsBus.connect({ servers: NATS_URL, namespace, ...options });
      buses.push(bus);
      return bus;
    },
    elapse: sleep,
    // The server's expiry timer is not exact to the millisecond; two seconds leave the
    // contract's half-TTL margins room for it.
    ttlMs: 2_000,
    async cleanup() {
      await Promise.all(buses.map((b) => b.close()));
      await removeStreams(admin, `${namespace}_`);
    },
  };
});

describe('NatsBus', () => {
  it('lays subjects, the stream and buckets out under its namespace', async () => {
    const namespace = freshNamespace();
    const bus = await NatsBus.connect({ servers: NATS_URL, namespace });
    try {
      const raw: string[] = [];
      const sub = admin.subscribe(`${namespace}.>`, {
        callback: (_err, msg) => {
          raw.push(msg.subject);
        },
      });
      await admin.flush();
      bus.publish('node.n1.metrics', { x: 1 });
      await bus.durablePublish('run-delivery.n1', { x: 2 }, 'wire-1');
      await bus.kv('session-owners', { ttlMs: 5_000 });
      const jsm = await jetstreamManager(admin);
      const stream = await jsm.streams.info(`${namespace}_durable`);
      expect(stream.config.subjects).toEqual([`${namespace}.durable.>`]);
      const bucket = await jsm.streams.info(`KV_${namespace}_session-owners`);
      expect(bucket.config.max_age).toBe(5_000 * 1_000_000);
      expect(bucket.config.max_msgs_per_subject).toBe(1);
      await admin.flush();
      await sleep(50);
      sub.unsubscribe();
      expect(raw).toEqual([`${namespace}.live.node.n1.metrics`, `${namespace}.durable.run-delivery.n1`]);
    } finally {
      await bus.close();
    }
  });

  it('replicas starting together all get the stream, and a later one brings its settings', async () => {
    const namespace = freshNamespace();
    const buses = await Promise.all([1, 2, 3].map(() => NatsBus.connect({ servers: NATS_URL, namespace })));
    const kvs = await Promise.all(buses.map((b) => b.kv('shared', { ttlMs: 60_000 })));
    await kvs[0]!.create('k', { v: 1 });
    expect((await kvs[2]!.get('k'))?.json()).toEqual({ v: 1 });
    const later = await NatsBus.connect({ servers: NATS_URL, namespace, dedupeWindowMs: 30_000 });
    const jsm = await jetstreamManager(admin);
    expect((await jsm.streams.info(`${namespace}_durable`)).config.duplicate_window).toBe(30_000 * 1_000_000);
    await Promise.all([...buses, later].map((b) => b.close()));
  });

  it('lowers its payload limit to what the server takes', async () => {
    const bus = await NatsBus.connect({ servers: NATS_URL, namespace: freshNamespace(), maxPayloadBytes: 64 * 1024 * 1024 });
    try {
      const serverMax = admin.info!.max_payload;
      expect(bus.maxPayloadBytes).toBeLessThan(serverMax);
      let err: unknown;
      try {
        bus.publish('big', new Uint8Array(serverMax));
      } catch (e) {
        err = e;
      }
      expect(FleetError.is(err, 'payload_too_large')).toBe(true);
    } finally {
      await bus.close();
    }
  });

  it('refuses bad options as invalid_argument and an unreachable server as unavailable', async () => {
    for (const options of [
      {},
      { servers: [] },
      { servers: NATS_URL, namespace: 'has.dot' },
      { servers: NATS_URL, storage: 'disk' },
      { servers: NATS_URL, replica: 3 },
      { servers: NATS_URL, drainTimeoutMs: -1 },
    ]) {
      const err = await NatsBus.connect(options as never).catch((e: unknown) => e);
      expect(FleetError.is(err, 'invalid_argument'), JSON.stringify(options)).toBe(true);
    }
    const err = await NatsBus.connect({ servers: 'nats://127.0.0.1:1', connectTimeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(FleetError.is(err, 'unavailable')).toBe(true);
    expect((err as Error).message).toContain('127.0.0.1:1');
  });

  describe('a replica killed while holding messages', () => {
    let dir: string;
    let child: ChildProcess | undefined;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'gpufleet-bus-'));
    });

    afterAll(async () => {
      child?.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });

    it('leaves them to a consumer of the same name on another connection', async () => {
      const namespace = freshNamespace();
      const bus = await NatsBus.connect({ servers: NATS_URL, namespace });
      try {
        for (const n of [1, 2, 3, 4, 5]) await bus.durablePublish('held.x', { n }, `held-${n}`);

        // tsx runs the child from source; a tsconfig maps the workspace package to its source too.
        const repo = fileURLToPath(new URL('../../../../', import.meta.url));
        const tsconfig = join(dir, 'child-tsconfig.json');
        await writeFile(tsconfig, JSON.stringify({ compilerOptions: { paths: { '@gpufleet/protocol': [join(repo, 'packages/protocol/src/index.ts')] } } }));
        const script = fileURLToPath(new URL('./__tests__/nats-replica-child.ts', import.meta.url));
        child = spawn(process.execPath, ['--import', 'tsx', script, NATS_URL, namespace], {
          env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        const deadline = Date.now() + 20_000;
        while ((out.match(/^got /gm)?.length ?? 0) < 2) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the child replica did not take two messages: ${out}`);
          await sleep(20);
        }
        const heldByChild = [...out.matchAll(/^got (\d+)$/gm)].map((m) => Number(m[1]));
        child.kill('SIGKILL');
        const killedAt = Date.now();

        const got: DurableMessage[] = [];
        await bus.durableConsume(
          'held',
          'held.>',
          async (m) => {
            got.push(m);
          },
          { ackWaitMs: 1_000 },
        );
        const wait = Date.now() + 5_000;
        while (got.length < 5 && Date.now() < wait) await sleep(20);
        expect(got.map((m) => m.json<{ n: number }>().n).sort()).toEqual([1, 2, 3, 4, 5]);
        expect(Date.now() - killedAt).toBeLessThan(4_000);
        // The child's two came back after the ack wait; the rest were never delivered before.
        expect(heldByChild).toHaveLength(2);
        for (const m of got) {
          const n = m.json<{ n: number }>().n;
          expect(m.deliveryCount, `message ${n}`).toBe(heldByChild.includes(n) ? 2 : 1);
        }
      } finally {
        await bus.close();
      }
    });
  });
});
