import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Agent,
  FileStateStore,
  joinFleet,
  loadIdentity,
  SIMULATION_INTERVAL_BOUNDS,
  systemClock,
  type AgentOptions,
  type HardwareBackend,
  type JoinResult,
} from '@gpufleet/agent';
import { FakeHardwareBackend, type SimGpuModel } from '@gpufleet/sim';

/** Short reconnect backoff so a test sees a reconnect within about a second, not 30 s. */
export const FAST_BACKOFF = { baseMs: 100, capMs: 500 } as const;

export interface E2eHostOptions {
  token: string;
  hostname: string;
  /** Default H100. */
  model?: SimGpuModel;
  /** Default 8. */
  gpuCount?: number;
  /** Passed to every Agent this host starts; backoff defaults to FAST_BACKOFF. */
  agentOptions?: Partial<Pick<AgentOptions, 'backoff' | 'metricsRingCapacity' | 'metricsIntervalMs' | 'announceStart' | 'exec'>>;
}

/**
 * One simulated host as a real installation has it: a data dir with the node key, node.json,
 * the pinned CA and the on-disk outbox (FileStateStore), the real joinFleet and the real Agent
 * over real WebSockets; only the hardware is the simulator's FakeHardwareBackend. Restartable:
 * each start() is a fresh Agent reading the same data dir, like a restarted process.
 */
export class E2eHost {
  readonly dataDir: string;
  readonly backend: FakeHardwareBackend;
  /** Wall-clock times (ms) at which the agent sampled the host: one per metrics sample. */
  readonly sampleTimes: number[] = [];
  /** Ids of the events this test enqueued, in order. */
  readonly enqueued: string[] = [];
  agent: Agent | null = null;
  nodeId = '';
  joined: JoinResult | null = null;
  private readonly recording: HardwareBackend;

  constructor(private readonly o: E2eHostOptions) {
    this.dataDir = mkdtempSync(join(tmpdir(), `gpufleet-e2e-${o.hostname}-`));
    this.backend = new FakeHardwareBackend({ hostname: o.hostname, model: o.model ?? 'H100', gpuCount: o.gpuCount ?? 8, seed: 'e2e', clock: systemClock });
    const b = this.backend;
    this.recording = {
      hostFacts: () => b.hostFacts(),
      hostSample: () => {
        this.sampleTimes.push(Date.now());
        return b.hostSample();
      },
      gpus: () => b.gpus(),
    };
  }

  /** Joins with the token (key made in the data dir) and starts the agent. */
  static async joinAndStart(o: E2eHostOptions): Promise<E2eHost> {
    const host = new E2eHost(o);
    try {
      await host.join();
      await host.start();
    } catch (err) {
      await host.dispose();
      throw err;
    }
    return host;
  }

  async join(token = this.o.token): Promise<JoinResult> {
    this.joined = await joinFleet({ token, dataDir: this.dataDir, backend: this.recording, agentVersion: '0.1.0-e2e' });
    this.nodeId = this.joined.nodeId;
    return this.joined;
  }

  /** Starts a fresh Agent on the data dir (the previous one must be stopped). */
  async start(): Promise<Agent> {
    if (this.agent && this.agent.lifecycle !== 'stopped') throw new Error(`${this.o.hostname}: agent still running`);
    const identity = loadIdentity(this.dataDir);
    if (!identity) throw new Error(`${this.o.hostname}: no node key in ${this.dataDir}`);
    const agent = new Agent({
      state: new FileStateStore(this.dataDir),
      identity,
      backend: this.recording,
      agentVersion: '0.1.0-e2e',
      // The e2e servers push sub-second intervals on purpose.
      serverIntervalBounds: SIMULATION_INTERVAL_BOUNDS,
      ...this.o.agentOptions,
      backoff: this.o.agentOptions?.backoff ?? FAST_BACKOFF,
    });
    this.agent = agent;
    await agent.start();
    return agent;
  }

  get running(): Agent {
    if (!this.agent) throw new Error(`${this.o.hostname}: agent not started`);
    return this.agent;
  }

  /** A must-not-lose event through the agent's outbox; returns its id. */
  enqueue(marker: string): string {
    const item = this.running.enqueueEvent({ kind: 'kernel-log', message: `e2e ${marker}`, data: { marker } });
    if (item?.t !== 'event') throw new Error(`${this.o.hostname}: the outbox refused event ${marker}`);
    this.enqueued.push(item.body.id);
    return item.body.id;
  }

  /** True once the agent is welcomed and the server has acknowledged everything in its outbox. */
  get settled(): boolean {
    return this.agent?.linkState === 'live' && this.agent.outbox.size === 0;
  }

  async stop(): Promise<void> {
    if (this.agent && this.agent.lifecycle !== 'stopped') await this.agent.stop();
  }

  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

/** Ids that occur more than once. */
export function duplicates(ids: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const id of ids) (seen.has(id) ? twice : seen).add(id);
  return [...twice];
}
