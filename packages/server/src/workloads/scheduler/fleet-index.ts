import { type GpuVendor, normalizePciBusId } from '@gpufleet/protocol';
import { type GpuNeed, gpuNeedKey, memoryFits, modelFits, vendorFits } from './gpu-need.js';
import { IndexedSet } from './indexed-set.js';
import { JobLabelCounts } from './job-label-counts.js';
import type { ClaimView, ObservableClaims, SchedNode } from './scheduler-types.js';

/**
 * One kind of GPU in the fleet (vendor, model name, memory). Each kind files the READY nodes
 * that have free GPUs of it by how many (`tiers[f]`: exactly f free), so the scheduler finds
 * candidates for "2 free H100s" by drawing from a few sets instead of scanning every node, and
 * binpacking reads the fullest nodes first.
 */
export interface GpuKind {
  readonly id: number;
  readonly vendor: GpuVendor;
  readonly name: string | null;
  readonly nameLower: string | null;
  readonly memoryTotalBytes: number | null;
  readonly tiers: IndexedSet<IndexedNode>[];
}

/** Where a GPU sits on the PCI tree: GPUs on one domain and bus share a root; close bus numbers are near. */
export interface PciPlace {
  domain: string;
  bus: number;
}

/** A node as the index keeps it: the node, plus what the scheduler reads on every evaluation. */
export interface IndexedNode {
  readonly node: SchedNode;
  /** Per GPU, in the order of node.gpus: its kind and PCI place. */
  readonly kinds: readonly GpuKind[];
  readonly pci: readonly (PciPlace | null)[];
  /** The kinds the node has, each once, and per GPU the slot of its kind in that list. */
  readonly distinctKinds: readonly GpuKind[];
  readonly kindSlots: readonly number[];
  /** The tier the node is filed in, per kind id; absent: not filed (not READY, or none free). */
  readonly filed: Map<number, number>;
}

export interface FleetIndexOptions {
  /** The claim table: free-GPU tiers follow its changes. Without it every READY GPU counts as free. */
  claims?: ObservableClaims;
}

function pciPlaceOf(busId: string | null): PciPlace | null {
  const canonical = normalizePciBusId(busId);
  if (canonical === null) return null;
  // `0000:17:00.0`: the domain and the bus number.
  return { domain: canonical.slice(0, 4), bus: Number.parseInt(canonical.slice(5, 7), 16) };
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** A capacity the scheduler can count on: a positive finite number, or null (unknown). */
function capacity(n: number | null): number | null {
  return n !== null && Number.isFinite(n) && n > 0 ? n : null;
}

/**
 * The node as the scheduler trusts it: GPUs by index (the lowest free ones go first, locality
 * is read in order), each whole non-negative index once (two inventory rows with one index
 * would be two "free" GPUs that the claims, keyed by index, see as one), and CPU and memory
 * totals that are not a number read as unknown rather than as room for anything.
 */
function normalized(node: SchedNode): SchedNode {
  const cpuCores = capacity(node.cpuCores);
  const memoryBytes = capacity(node.memoryBytes);
  const clean = node.gpus.every((g, i) => Number.isInteger(g.index) && g.index >= 0 && (i === 0 || node.gpus[i - 1]!.index < g.index));
  if (clean && cpuCores === node.cpuCores && memoryBytes === node.memoryBytes) return node;
  const seen = new Set<number>();
  const gpus = node.gpus
    .filter((g) => Number.isInteger(g.index) && g.index >= 0)
    .sort((a, b) => a.index - b.index)
    .filter((g) => !seen.has(g.index) && seen.add(g.index));
  return { ...node, cpuCores, memoryBytes, gpus };
}

/**
 * The fleet as the scheduler sees it, kept current node by node: the workload service upserts a
 * node whenever its state, labels or GPUs change, and the attached claim table says when a
 * node's claims change. Both are O(GPUs on the node).
 */
export class FleetIndex {
  private readonly nodes = new Map<string, IndexedNode>();
  private readonly byHostname = new Map<string, IndexedNode>();
  private readonly kindsByKey = new Map<string, GpuKind>();
  private readonly kindLists = new Map<string, readonly GpuKind[]>();
  private readonly claims: ClaimView | null;
  private readonly unsubscribe: Array<() => void> = [];
  /** Spread-over-a-label counts, kept when the claims say which job changed where. */
  private readonly labelCounts: JobLabelCounts | null = null;
  /** Every READY node, for allocations that ask for no GPU. */
  readonly readyNodes = new IndexedSet<IndexedNode>();

  constructor(options: FleetIndexOptions = {}) {
    this.claims = options.claims ?? null;
    const claims = options.claims;
    if (claims) {
      this.unsubscribe.push(claims.onNodeChange((id) => this.refresh(id)));
      if (claims.onJobChange) {
        const counts = new JobLabelCounts(this, claims);
        this.labelCounts = counts;
        this.unsubscribe.push(claims.onJobChange((c) => (c === null ? counts.clear() : counts.jobChanged(c.job, c.nodeId, c.delta))));
      }
    }
  }

  get size(): number {
    return this.nodes.size;
  }

  get(id: string): SchedNode | undefined {
    return this.nodes.get(id)?.node;
  }

  /** The indexed form of a node, by id. */
  entry(id: string): IndexedNode | undefined {
    return this.nodes.get(id);
  }

  /** A node named by id or hostname, as a job's `pin` names it. */
  lookup(idOrHostname: string): IndexedNode | undefined {
    return this.nodes.get(idOrHostname) ?? this.byHostname.get(idOrHostname);
  }

  entries(): IterableIterator<IndexedNode> {
    return this.nodes.values();
  }

  upsert(given: SchedNode): void {
    const node = normalized(given);
    const old = this.nodes.get(node.id);
    if (!old || !sameLabels(old.node.labels, node.labels)) this.labelCounts?.clear();
    if (old) {
      this.unfile(old);
      if (this.byHostname.get(old.node.hostname) === old) this.byHostname.delete(old.node.hostname);
    }
    const kinds = node.gpus.map((g) => this.kindOf(g.vendor, g.name, g.memoryTotalBytes));
    const distinctKinds = [...new Set(kinds)];
    const entry: IndexedNode = {
      node,
      kinds,
      pci: node.gpus.map((g) => pciPlaceOf(g.pciBusId)),
      distinctKinds,
      kindSlots: kinds.map((k) => distinctKinds.indexOf(k)),
      filed: new Map(),
    };
    this.nodes.set(node.id, entry);
    this.byHostname.set(node.hostname, entry);
    if (node.state === 'READY') this.readyNodes.add(entry);
    this.fileFree(entry);
  }

  remove(id: string): boolean {
    const entry = this.nodes.get(id);
    if (!entry) return false;
    this.unfile(entry);
    this.nodes.delete(id);
    this.labelCounts?.clear();
    if (this.byHostname.get(entry.node.hostname) === entry) this.byHostname.delete(entry.node.hostname);
    return true;
  }

  /** Re-reads the node's free GPUs from the attached claims (after a claim or release on it). */
  refresh(id: string): void {
    const entry = this.nodes.get(id);
    if (entry) this.fileFree(entry);
  }

  /**
   * Files the node under `free` GPUs of `kind` for now: the scheduler's note of what it took in
   * the batch it is placing. `refresh` puts back what the claims say.
   */
  reviseFree(entry: IndexedNode, kind: GpuKind, free: number): void {
    if (entry.node.state !== 'READY') return;
    this.fileIn(entry, kind, free);
  }

  /**
   * A job's allocations per value of a label, kept current across plans, when `claims` are the
   * claims this index follows and they report job changes; null otherwise (count them yourself).
   */
  jobLabelCounts(job: string, label: string, claims: ClaimView): ReadonlyMap<string, number> | null {
    return this.labelCounts !== null && claims === this.claims ? this.labelCounts.table(job, label) : null;
  }

  /** The kinds a need accepts (vendor, model, memory); cached until a new kind appears. */
  kindsFor(need: GpuNeed): readonly GpuKind[] {
    const key = gpuNeedKey(need);
    let list = this.kindLists.get(key);
    if (!list) {
      list = [...this.kindsByKey.values()].filter((k) => vendorFits(k.vendor, need) && modelFits(k.nameLower, need) && memoryFits(k.memoryTotalBytes, need));
      this.kindLists.set(key, list);
    }
    return list;
  }

  /** Stops following the claim table. */
  close(): void {
    for (const stop of this.unsubscribe.splice(0)) stop();
    this.labelCounts?.clear();
  }

  private kindOf(vendor: GpuVendor, name: string | null, memoryTotalBytes: number | null): GpuKind {
    const key = `${vendor}\u0000${name ?? ''}\u0000${memoryTotalBytes ?? ''}`;
    let kind = this.kindsByKey.get(key);
    if (!kind) {
      kind = { id: this.kindsByKey.size + 1, vendor, name, nameLower: name === null ? null : name.toLowerCase(), memoryTotalBytes, tiers: [] };
      this.kindsByKey.set(key, kind);
      this.kindLists.clear();
    }
    return kind;
  }

  private fileFree(entry: IndexedNode): void {
    if (entry.node.state !== 'READY') return;
    const free = new Array<number>(entry.distinctKinds.length).fill(0);
    const { node } = entry;
    for (let i = 0; i < node.gpus.length; i++) {
      const gpu = node.gpus[i]!;
      if (gpu.state === 'READY' && (this.claims === null || this.claims.gpuHolder(node.id, gpu.index) === null)) free[entry.kindSlots[i]!]!++;
    }
    for (let k = 0; k < free.length; k++) this.fileIn(entry, entry.distinctKinds[k]!, free[k]!);
  }

  private fileIn(entry: IndexedNode, kind: GpuKind, free: number): void {
    const was = entry.filed.get(kind.id);
    if (was === free) return;
    if (was !== undefined) kind.tiers[was]!.delete(entry);
    if (free <= 0) {
      entry.filed.delete(kind.id);
      return;
    }
    while (kind.tiers.length <= free) kind.tiers.push(new IndexedSet());
    kind.tiers[free]!.add(entry);
    entry.filed.set(kind.id, free);
  }

  private unfile(entry: IndexedNode): void {
    this.readyNodes.delete(entry);
    for (const kind of entry.distinctKinds) {
      const tier = entry.filed.get(kind.id);
      if (tier !== undefined) kind.tiers[tier]!.delete(entry);
    }
    entry.filed.clear();
  }
}
