import type { ApplyPoolsResult, NodeView, PoolView } from '@gpufleet/protocol';
import { FleetError } from '@gpufleet/protocol';
import { hashString, mulberry32 } from '../prng.js';
import type { SimProviderHosts } from '../provider/sim-provider-hosts.js';
import type { PoolFacts } from './pool-conditions.js';
import { replyError, type ScenarioApi } from './scenario-api.js';
import type { ScenarioPoolsFile } from './scenario-pools-file.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Applies the pools file through the API, as `gpufleet pools apply` does. */
export async function applyScenarioPools(api: ScenarioApi, file: ScenarioPoolsFile): Promise<string> {
  const r = await api.post<ApplyPoolsResult>('/api/v1/pools/apply', { source: file.text, filename: file.filename, baseDir: file.baseDir });
  if (r.status !== 200) throw new FleetError('failed_precondition', `the server refused the pools file ${file.filename}: ${replyError(r)}`);
  const pools = Array.isArray(r.body?.pools) ? r.body.pools : [];
  return `pools applied: ${pools.map((p) => `${p.name} ${p.change}`).join(', ')}`;
}

/** Waits until every pool of the file has min_nodes READY. */
export async function waitForPools(api: ScenarioApi, file: ScenarioPoolsFile, timeoutMs: number, pollMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await api.get<{ items: PoolView[] }>('/api/v1/pools');
    if (r.status === 200 && Array.isArray(r.body?.items)) {
      const short = [...file.minNodes].filter(([name, min]) => (r.body.items.find((p) => p.name === name)?.ready ?? -1) < min);
      if (short.length === 0) return;
      last = short
        .map(([name, min]) => {
          const p = r.body.items.find((x) => x.name === name);
          return p ? `${name}: ${p.ready} of ${min} READY, ${p.inFlight} in flight` : `${name}: not listed`;
        })
        .join('; ');
    } else last = `pools: ${replyError(r)}`;
    if (Date.now() > deadline) throw new FleetError('unavailable', `the pools did not reach min_nodes READY within ${timeoutMs / 1000} s (${last})`);
    await sleep(pollMs);
  }
}

/**
 * Picks the host of a fault aimed at a pool: a member READY now that no fault of the run hit
 * before, in an order drawn from the seed. Remembers the hit for `faultsReplaced`.
 */
export class PoolFaultTargets implements PoolFacts {
  readonly hit: Array<{ pool: string; hostname: string; nodeId: string; instanceId: string }> = [];
  private readonly rng: () => number;

  constructor(
    readonly hosts: SimProviderHosts,
    private readonly api: ScenarioApi,
    seed: string | number,
  ) {
    this.rng = mulberry32(hashString(`${String(seed)}:pool-faults`));
  }

  /** Notes a fault that landed on a host some other way (`host:` or `alloc:`), if it is a pool's. */
  noteHit(hostname: string): void {
    const h = this.hosts.find(hostname);
    if (h && !this.hit.some((x) => x.hostname === hostname)) this.hit.push({ pool: h.pool, hostname, nodeId: h.nodeId, instanceId: h.instanceId });
  }

  /** A member of `pool` to hit and a GPU on it (the given one, or one drawn). */
  async pick(pool: string, gpu: number | null): Promise<{ hostname: string; gpu: number }> {
    const taken = new Set(this.hit.map((h) => h.hostname));
    const candidates = this.hosts.list(pool).filter((h) => !taken.has(h.hostname));
    // Fisher-Yates with the run's generator: the same seed tries members in the same order.
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng() * (i + 1));
      [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
    }
    for (const h of candidates) {
      const r = await this.api.get<NodeView>(`/api/v1/nodes/${encodeURIComponent(h.hostname)}`);
      if (r.status !== 200 || r.body.status !== 'READY') continue;
      const gpus = h.fleet.host(h.hostname).backend.gpuIds().length;
      this.hit.push({ pool, hostname: h.hostname, nodeId: h.nodeId, instanceId: h.instanceId });
      return { hostname: h.hostname, gpu: gpu ?? Math.floor(this.rng() * gpus) };
    }
    throw new FleetError('failed_precondition', `no READY member of pool ${pool} left that no fault hit (${candidates.length} not hit yet)`);
  }
}
