import { randomBytes } from 'node:crypto';
import { FleetError, generateEd25519, signCommand, type CommandPayload, type NodeStatus, type ServerFrame, type SignedCommand } from '@gpufleet/protocol';
import { EventHub, type HubEvent } from '../../events/event-hub.js';
import { openSqliteStore } from '../../store/sqlite-store.js';
import type { AgentEventRecord, NodeRecord, Store } from '../../store/store.js';
import { sampleNode } from '../../store/__tests__/store-fixtures.js';
import { ManualClock } from '../../testing/test-server.js';
import { RunService, type RunServiceOptions } from '../run-service.js';
import type { RunClaims } from '../../replicas/run-followers.js';

/** One server alone: it follows every run (replica claims are tested in replicas/run-followers.test.ts). */
export const ALWAYS_FOLLOWS: RunClaims = { claim: async () => true, release: async () => undefined };

export const T0 = 1_760_000_000_000;
export const operator = generateEd25519();

/** A gateway stand-in: which nodes have a session, and every frame sent. */
export class FakeGateway {
  readonly connected = new Set<string>();
  readonly sent: Array<{ nodeId: string; frame: ServerFrame }> = [];
  sendToNode(nodeId: string, frame: ServerFrame): boolean {
    if (!this.connected.has(nodeId)) return false;
    this.sent.push({ nodeId, frame });
    return true;
  }
  sendSerialized(nodeId: string, text: string): boolean {
    // Parsed back, so a frame that does not survive JSON fails the tests that read it.
    return this.sendToNode(nodeId, JSON.parse(text) as ServerFrame);
  }
  /** Node ids that got a frame of this type (in order). */
  to(t: ServerFrame['t']): string[] {
    return this.sent.filter((s) => s.frame.t === t).map((s) => s.nodeId);
  }
}

export interface KitNode {
  id: string;
  hostname: string;
  labels: Record<string, string>;
  status: NodeStatus;
}

export interface RunKit {
  service: RunService;
  store: Store;
  gateway: FakeGateway;
  hub: EventHub;
  events: HubEvent[];
  clock: ManualClock;
  nodes: KitNode[];
  warnings: string[];
  /** A signed command; `over` replaces payload fields. */
  command(over?: Partial<CommandPayload>): SignedCommand;
  /** Delivers a host report as the gateway would once the outbox item is stored. */
  report(nodeId: string, kind: 'run-started' | 'run-output' | 'run-result' | 'run-refused', data: Record<string, unknown>): void;
  /** A run-result with defaults (exit 0). */
  result(nodeId: string, runId: string, over?: Record<string, unknown>): void;
  /** A new RunService over the same store, gateway and hub (a server restart). */
  restart(): RunService;
  /** Another replica's run service over the same store, fleet and gateway (closed with the kit). */
  peer(over: Partial<RunServiceOptions>): RunService;
  close(): Promise<void>;
}

/** Host n of the kit: `node-NNN`, did ids that sort like their hostnames. */
export function nodeId(n: number): string {
  return `did:key:z6MkKit${String(n).padStart(5, '0')}`;
}

/**
 * A RunService over an in-memory SQLite store, a fake gateway and a hand-moved clock, with
 * `count` READY hosts labelled pool=a (even) or pool=b (odd); all connected unless told otherwise.
 */
export async function runKit(count: number, opts: { connected?: boolean; service?: Partial<RunServiceOptions>; extra?: KitNode[] } = {}): Promise<RunKit> {
  const store = await openSqliteStore({ path: ':memory:' });
  await store.migrate();
  const clock = new ManualClock(T0);
  const hub = new EventHub();
  const events: HubEvent[] = [];
  hub.subscribe((e) => void events.push(e));
  const gateway = new FakeGateway();
  const nodes: KitNode[] = Array.from({ length: count }, (_, i) => ({
    id: nodeId(i),
    hostname: `node-${String(i).padStart(3, '0')}`,
    labels: { pool: i % 2 === 0 ? 'a' : 'b' },
    status: 'READY' as NodeStatus,
  }));
  nodes.push(...(opts.extra ?? []));
  const records = new Map<string, NodeRecord>(nodes.map((n) => [n.id, { ...sampleNode(n.id), hostname: n.hostname }]));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  if (opts.connected !== false) for (const n of nodes) gateway.connected.add(n.id);
  const registry = {
    all: () => [...records.values()],
    labelsOf: (id: string) => byId.get(id)?.labels ?? {},
    status: (node: NodeRecord) => byId.get(node.id)!.status,
    resolve: (ref: string) => {
      const found = [...records.values()].find((r) => r.id === ref || r.hostname === ref);
      if (!found) throw new FleetError('not_found', `no node '${ref}'`);
      return found;
    },
  };
  const warnings: string[] = [];
  const log = { warn: (_o: object, msg: string) => void warnings.push(msg), info: () => undefined };
  const make = () => new RunService({ store, registry, gateway, hub, clock, log, flushDelayMs: 1, claims: ALWAYS_FOLLOWS, ...opts.service });
  let seq = 0;
  const peers: RunService[] = [];
  const kit: RunKit = {
    service: make(),
    store,
    gateway,
    hub,
    events,
    clock,
    nodes,
    warnings,
    command(over = {}) {
      const payload: CommandPayload = {
        v: 1,
        runId: `run-${randomBytes(6).toString('hex')}`,
        nonce: randomBytes(16).toString('hex'),
        issuedAt: clock.now(),
        ability: 'exec/run',
        target: '',
        command: { kind: 'argv', argv: ['echo', 'ok'] },
        env: {},
        cwd: null,
        timeoutMs: 60_000,
        runAs: null,
        invoker: operator.did,
        capability: null,
        ...over,
      };
      return signCommand(payload, operator.privateKeyPem);
    },
    report(node, kind, data) {
      const event: AgentEventRecord = {
        nodeId: node,
        seq: ++seq,
        id: `e${seq}`,
        ts: clock.now(),
        kind,
        gpuUuid: null,
        pciBusId: null,
        message: kind,
        data,
        receivedAt: clock.now(),
      };
      kit.service.onAgentEvent(event);
    },
    result(node, runId, over = {}) {
      kit.report(node, 'run-result', {
        runId,
        exitCode: 0,
        signal: null,
        timedOut: false,
        canceled: false,
        durationMs: 5,
        outputBytes: 0,
        truncated: false,
        ...over,
      });
    },
    restart() {
      kit.service = make();
      return kit.service;
    },
    peer(over) {
      const made = new RunService({ store, registry, gateway, hub, clock, log, flushDelayMs: 1, claims: ALWAYS_FOLLOWS, ...opts.service, ...over });
      peers.push(made);
      return made;
    },
    async close() {
      for (const p of peers) await p.stop();
      await kit.service.stop();
      await store.close();
    },
  };
  return kit;
}

/** The states of a run's targets by hostname, as stored (after a flush). */
export async function storedStates(kit: RunKit, runId: string): Promise<Record<string, string>> {
  await kit.service.flush();
  return Object.fromEntries((await kit.store.listRunTargets(runId)).map((t) => [t.hostname, t.state]));
}

let storedSeq = 1000;
/** A host's report stored by another replica: in the store, never handed to the kit's RunService. */
export async function storedElsewhere(k: RunKit, node: string, kind: string, data: Record<string, unknown>): Promise<void> {
  storedSeq++;
  const event: AgentEventRecord = {
    nodeId: node,
    seq: storedSeq,
    id: `x${storedSeq}`,
    ts: k.clock.now(),
    kind,
    gpuUuid: null,
    pciBusId: null,
    message: kind,
    data,
    receivedAt: k.clock.now(),
  };
  await k.store.insertAgentEvents([event]);
}
