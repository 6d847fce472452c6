import { FleetError } from '@gpufleet/protocol';
import type { Clock } from '@gpufleet/agent';
import type { FaultTarget } from '../faults/fault-injector.js';
import type { SimFleet, SimHost } from '../fleet.js';
import { SimWorkloads, type SimAllocation } from '../workloads/sim-workloads.js';

/** A host the sim provider started for a pool, running now. */
export interface SimProviderHost {
  instanceId: string;
  /** The provider (name in the pools file) that started it. */
  provider: string;
  pool: string;
  operationId: string;
  hostname: string;
  /** The node id it enrolled as (its key's did). */
  nodeId: string;
  /** The one-host fleet it runs in. */
  fleet: SimFleet;
  startedAt: number;
}

/** A host switched off by `terminate`, and what was still running on it then. */
export interface SimTermination {
  instanceId: string;
  hostname: string;
  nodeId: string;
  pool: string;
  at: number;
  /** Allocations that still ran when the machine went off: a pool manager must never leave any. */
  running: SimAllocation[];
}

export interface SimProviderHostsOptions {
  /** Seed of the shared fake workloads (start delays). Default 'sim-provider'. */
  seed?: string | number;
  clock?: Clock;
}

/**
 * The running hosts of sim providers, as one fleet for the fault injector: scenarios and the
 * bench reach a provisioned host by hostname (or its instance id) without knowing which
 * provider started it. Their fake workloads are shared, so an allocation fault finds its host
 * wherever the pool put it. It also keeps every termination and what it killed.
 */
export class SimProviderHosts implements FaultTarget {
  readonly workloads: SimWorkloads;
  /** Every terminate of a started host, oldest first. */
  readonly terminations: SimTermination[] = [];
  private readonly byHostname = new Map<string, SimProviderHost>();
  private readonly byInstance = new Map<string, SimProviderHost>();
  private readonly listeners = new Set<(change: 'added' | 'removed', host: SimProviderHost) => void>();

  constructor(o: SimProviderHostsOptions = {}) {
    this.workloads = new SimWorkloads({ seed: o.seed ?? 'sim-provider', ...(o.clock ? { clock: o.clock } : {}) });
  }

  /** Called by the provider once a host has enrolled and its agent runs. */
  add(host: SimProviderHost): void {
    if (this.byHostname.has(host.hostname)) throw new FleetError('already_exists', `a simulated host named ${host.hostname} already runs`);
    this.byHostname.set(host.hostname, host);
    this.byInstance.set(host.instanceId, host);
    for (const l of this.listeners) l('added', host);
  }

  /** Called by the provider when it switches a host off; records what still ran there. */
  remove(instanceId: string, at: number, running: SimAllocation[]): void {
    const host = this.byInstance.get(instanceId);
    if (!host) return;
    this.byInstance.delete(instanceId);
    this.byHostname.delete(host.hostname);
    this.terminations.push({ instanceId, hostname: host.hostname, nodeId: host.nodeId, pool: host.pool, at, running });
    for (const l of this.listeners) l('removed', host);
  }

  /** Hears of hosts added and removed; returns the function that stops listening. */
  onChange(listener: (change: 'added' | 'removed', host: SimProviderHost) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The running host of that hostname or instance id, if any. */
  find(ref: string): SimProviderHost | undefined {
    return this.byHostname.get(ref) ?? this.byInstance.get(ref);
  }

  /** Running hosts, of one pool when given, oldest first. */
  list(pool?: string): SimProviderHost[] {
    return [...this.byInstance.values()].filter((h) => pool === undefined || h.pool === pool).sort((a, b) => a.startedAt - b.startedAt);
  }

  get size(): number {
    return this.byInstance.size;
  }

  host(hostname: string): SimHost {
    return this.entry(hostname).fleet.host(this.entry(hostname).hostname);
  }

  crashAgent(hostname: string): Promise<void> {
    const h = this.entry(hostname);
    return h.fleet.crashAgent(h.hostname);
  }

  restartAgent(hostname: string): Promise<void> {
    const h = this.entry(hostname);
    return h.fleet.restartAgent(h.hostname);
  }

  /**
   * Another fleet's hosts and these as one fault target. The fleet should have been started on
   * these hosts' workloads (`workloads: hosts.workloads`) so allocation faults find either's.
   */
  withFleet(fleet: FaultTarget): FaultTarget {
    const owner = (hostname: string): FaultTarget => (this.find(hostname) ? this : fleet);
    return {
      host: (hostname) => owner(hostname).host(hostname),
      crashAgent: (hostname) => owner(hostname).crashAgent(hostname),
      restartAgent: (hostname) => owner(hostname).restartAgent(hostname),
      workloads: this.workloads,
    };
  }

  /** The simulated host of each running instance (for listings such as the sim control endpoint). */
  simHosts(): SimHost[] {
    return this.list().map((h) => h.fleet.host(h.hostname));
  }

  private entry(ref: string): SimProviderHost {
    const h = this.find(ref);
    if (h) return h;
    const some = this.list()
      .slice(0, 5)
      .map((x) => x.hostname);
    throw new FleetError(
      'not_found',
      `no running sim provider host '${ref}' (${some.length === 0 ? 'none runs' : `running: ${some.join(', ')}${this.size > 5 ? `, ... ${this.size} in all` : ''}`})`,
    );
  }
}
