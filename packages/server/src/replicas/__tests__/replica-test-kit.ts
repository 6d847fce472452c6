import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Bus } from '../../bus/bus.js';
import { InProcessBroker, InProcessBus } from '../../bus/in-process-bus.js';
import { NatsBus } from '../../bus/nats-bus.js';
import type { Clock } from '../../clock.js';

export { eventually, expectFleetError, sleep } from '../../bus/__tests__/bus-contract-kit.js';

/**
 * What the replica-layer tests share: a backend (one in-process broker, or one NATS namespace) on
 * which each opened bus stands for one replica, a clock tests move by hand, and a log that records.
 */

/** NATS with JetStream of this machine and of CI (as in bus/nats-bus.test.ts): absent, the run fails. */
const NATS_URL = process.env.GPUFLEET_TEST_NATS ?? 'nats://127.0.0.1:4222';

export type BackendKind = 'in-process' | 'nats';
export const BACKENDS: readonly BackendKind[] = ['in-process', 'nats'];

export interface Backend {
  readonly kind: BackendKind;
  /** Another bus on this backend: one per replica. */
  open(): Promise<Bus>;
  /** Closes every bus opened here and, on NATS, deletes the namespace's buckets and stream. */
  cleanup(): Promise<void>;
}

// Every backend gets a namespace of its own under this run's prefix, so parallel runs never meet.
const RUN = `gfrep${randomBytes(4).toString('hex')}`;
let namespaces = 0;

/** A fresh backend. The in-process one judges KV TTLs by the real clock, as NATS does. */
export async function openBackend(kind: BackendKind): Promise<Backend> {
  const buses: Bus[] = [];
  const closeAll = () => Promise.all(buses.splice(0).map((b) => b.close()));
  if (kind === 'in-process') {
    const broker = new InProcessBroker();
    return {
      kind,
      async open() {
        const bus = new InProcessBus({ broker, drainTimeoutMs: 1_000 });
        buses.push(bus);
        return bus;
      },
      async cleanup() {
        await closeAll();
      },
    };
  }
  const namespace = `${RUN}-${++namespaces}`;
  return {
    kind,
    async open() {
      const bus = await NatsBus.connect({ servers: NATS_URL, namespace, storage: 'memory', name: 'gpufleet-replica-tests', drainTimeoutMs: 1_000 });
      buses.push(bus);
      return bus;
    },
    async cleanup() {
      await closeAll();
      const admin = await connect({ servers: NATS_URL, name: 'gpufleet-replica-tests-admin' });
      try {
        const jsm = await jetstreamManager(admin);
        const doomed: string[] = [];
        for await (const name of jsm.streams.names()) {
          if (name.startsWith(`${namespace}_`) || name.startsWith(`KV_${namespace}_`)) doomed.push(name);
        }
        await Promise.all(doomed.map((name) => jsm.streams.delete(name)));
      } finally {
        await admin.close();
      }
    },
  };
}

/** A clock the test moves by hand (wall time for directories and owners, or monotonic for leases). */
export class FakeClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface LoggedLine {
  level: 'info' | 'warn';
  obj: object;
  msg: string;
}

/** A log that keeps what it is told, for tests that check what a component reported. */
export function recordingLog(): { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; lines: LoggedLine[]; messages(): string[] } {
  const lines: LoggedLine[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    messages: () => lines.map((l) => l.msg),
  };
}
