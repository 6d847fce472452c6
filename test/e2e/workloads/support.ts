import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  Agent,
  FileStateStore,
  ProcessExecutor,
  joinFleet,
  loadIdentity,
  SIMULATION_INTERVAL_BOUNDS,
  systemClock,
  type HardwareBackend,
} from '@gpufleet/agent';
import { generateEd25519, parseJobFile, signJob, type Ed25519KeyPair, type SignedJob } from '@gpufleet/protocol';
import { FakeHardwareBackend } from '@gpufleet/sim';
import { startTestServer, type TestServer } from '../../../packages/server/src/testing/test-server.js';
import type { Cleanups } from '../support/cleanups.js';
import { FAST_BACKOFF } from '../support/e2e-host.js';
import { waitFor } from '../support/wait-for.js';

/** Short server intervals (flags a real operator could set): OFFLINE about 600 ms after a host goes silent. */
export const FLAGS = { heartbeatInterval: '200ms', offlineAfter: 3, metricsInterval: '500ms' };

/** The health policy of these tests: Xid 79 makes the GPU UNHEALTHY (cordon-gpu), as an operator's policy would. */
const POLICY = `
version: 1
rules:
  - name: xid-79-gpu-gone
    description: the GPU fell off the bus
    match: {kind: xid, codes: [79]}
    verdict: unhealthy
    scope: gpu
    actions: [cordon-gpu]
`;

export interface WorkloadServer {
  t: TestServer;
  root: Ed25519KeyPair;
  joinToken: string;
}

/** A real control plane whose only fleet root is a key made here, with a reusable join token that carries it. */
export async function startWorkloadServer(cleanups: Cleanups): Promise<WorkloadServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-wl-'));
  cleanups.add('policy dir', () => rmSync(dir, { recursive: true, force: true }));
  const policy = join(dir, 'health-policy.yaml');
  writeFileSync(policy, POLICY);
  const t = await startTestServer({ ...FLAGS, healthPolicy: policy });
  cleanups.add('server', () => t.close());
  const root = generateEd25519();
  const init = await t.api('POST', '/api/v1/roots/init', { did: root.did });
  if (init.status !== 201) throw new Error(`roots/init answered ${init.status}: ${init.text}`);
  const created = await t.api('POST', '/api/v1/join-tokens', { description: 'workloads e2e', labels: { suite: 'workloads' }, reusable: true });
  if (created.status !== 201) throw new Error(`join-tokens answered ${created.status}: ${created.text}`);
  return { t, root, joinToken: created.body.token };
}

/**
 * A host as a real installation has it (data dir, node key, on-disk outbox, the real Agent over
 * real WebSockets), running process workloads for real, with a kernel log the test writes Xid lines
 * into; only the GPUs are the simulator's fake backend.
 */
export class WorkloadHost {
  readonly dataDir: string;
  readonly kernelLog: string;
  readonly backend: FakeHardwareBackend;
  agent: Agent | null = null;
  nodeId = '';
  private readonly hw: HardwareBackend;

  constructor(
    readonly hostname: string,
    private readonly token: string,
    gpuCount = 4,
  ) {
    this.dataDir = mkdtempSync(join(tmpdir(), `gpufleet-e2e-wl-${hostname}-`));
    this.kernelLog = join(this.dataDir, 'kern.log');
    writeFileSync(this.kernelLog, '');
    this.backend = new FakeHardwareBackend({ hostname, model: 'H100', gpuCount, seed: `wl-${hostname}`, clock: systemClock });
    const b = this.backend;
    this.hw = { hostFacts: () => b.hostFacts(), hostSample: () => b.hostSample(), gpus: () => b.gpus() };
  }

  /** Joins (the first time) and starts a fresh Agent on the data dir. */
  async start(): Promise<Agent> {
    if (!this.nodeId) {
      const joined = await joinFleet({ token: this.token, dataDir: this.dataDir, backend: this.hw, agentVersion: '0.1.0-e2e' });
      this.nodeId = joined.nodeId;
    }
    const identity = loadIdentity(this.dataDir);
    if (!identity) throw new Error(`${this.hostname}: no node key`);
    const agent = new Agent({
      state: new FileStateStore(this.dataDir),
      identity,
      backend: this.hw,
      agentVersion: '0.1.0-e2e',
      serverIntervalBounds: SIMULATION_INTERVAL_BOUNDS,
      backoff: FAST_BACKOFF,
      health: { kernelLog: { source: { file: this.kernelLog }, pollMs: 50 } },
      workloads: { executors: [new ProcessExecutor({ stateDir: join(this.dataDir, 'procs') })], shutdownGraceMs: 2000 },
    });
    this.agent = agent;
    await agent.start();
    return agent;
  }

  async stop(): Promise<void> {
    if (this.agent && this.agent.lifecycle !== 'stopped') await this.agent.stop();
  }

  /** Writes an Xid line about one of this host's GPUs into its kernel log, as the NVIDIA driver would. */
  xid(code: number, gpuIndex: number): void {
    const gpu = this.backend.gpuIds().find((g) => g.index === gpuIndex);
    if (!gpu) throw new Error(`${this.hostname} has no GPU ${gpuIndex}`);
    const pci = gpu.pciBusId.replace(/\.\d$/, '');
    appendFileSync(this.kernelLog, `NVRM: Xid (PCI:${pci}): ${code}, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n`);
  }

  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

/** Starts a host, registers its teardown and waits until the server has it READY with its GPUs. */
export async function startHost(s: WorkloadServer, cleanups: Cleanups, hostname: string, gpuCount = 4): Promise<WorkloadHost> {
  const host = new WorkloadHost(hostname, s.joinToken, gpuCount);
  cleanups.add(`host ${hostname}`, () => host.dispose());
  await host.start();
  await waitFor(`${hostname} READY with its GPUs`, async () => {
    const r = await s.t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.nodeId)}`);
    return r.status === 200 && r.body.status === 'READY' && r.body.connected && r.body.gpus.length === gpuCount;
  });
  return host;
}

/** A process job: `count` one-GPU allocations of a shell that says it started and sleeps. */
export function sleeperJob(name: string, count: number, over: Record<string, unknown> = {}, group: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    allocations: {
      web: {
        count,
        executor: 'process',
        command: ['sh', '-c', 'echo "started $GPUFLEET_ALLOC_NAME on $CUDA_VISIBLE_DEVICES"; sleep 1000; echo never'],
        resources: { gpus: 1 },
        restart: { attempts: 0, within: '1m', delay: '100ms' },
        stop_grace: '2s',
        ...group,
      },
    },
    reschedule: { offline_grace: '1s' },
    ...over,
  };
}

/** Signs a job file (as an object) with the fleet root, as `gpufleet jobs run` does. */
export function signFile(root: Ed25519KeyPair, file: Record<string, unknown>): { signed: SignedJob; source: string } {
  const source = stringify(file);
  const signed = signJob(
    { v: 1, job: parseJobFile(source), issuedAt: Date.now(), nonce: randomBytes(16).toString('hex'), invoker: root.did, capability: null },
    root.privateKeyPem,
  );
  return { signed, source };
}

export interface AllocView {
  id: string;
  name: string;
  nodeId: string;
  hostname: string;
  jobVersion: number;
  desired: string;
  status: string;
  stopCause: string | null;
  replaces: string | null;
  replacedBy: string | null;
  gpus: Array<{ index: number; uuid: string | null }>;
  message: string;
}

export async function allocations(s: WorkloadServer, job: string): Promise<AllocView[]> {
  const r = await s.t.api('GET', `/api/v1/allocations?job=${job}`);
  if (r.status !== 200) throw new Error(`allocations of ${job}: ${r.status} ${r.text}`);
  return r.body.items;
}

/** Waits until every wanted allocation of the job runs (count of them), and returns them. */
export async function waitRunning(s: WorkloadServer, job: string, count: number, timeoutMs = 10_000): Promise<AllocView[]> {
  return waitFor(
    `${count} allocations of ${job} running`,
    async () => {
      const live = (await allocations(s, job)).filter((a) => a.desired === 'run');
      return live.length === count && live.every((a) => a.status === 'running') ? live : null;
    },
    { timeoutMs },
  );
}

/** Processes on this machine started for an allocation (by the GPUFLEET_ALLOC_ID in their environment). */
export function processesOf(allocId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0');
      if (env.includes(`GPUFLEET_ALLOC_ID=${allocId}`)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}
