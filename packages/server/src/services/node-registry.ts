import {
  FleetError,
  matchesSelector,
  parseNodeSort,
  parseSelector,
  type InventoryBody,
  type MetricsBody,
  type NodeSort,
  type NodeStatus,
} from '@gpufleet/protocol';
import type { NodeRecord, Store } from '../store/store.js';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import { NodeStateMachine, nodeStateOf } from '../health/node-state-machine.js';
import { BUILTIN_LABEL_KEYS, builtinLabels } from './builtin-labels.js';
import { sortNodes } from './node-order.js';
import { FLEET_SLICE, forEachInSlices } from './loop-slices.js';
import type { RemoteSessions } from '../replicas/session-owners.js';

interface Liveness {
  online: boolean;
  lastFrameAt: number;
  dirty: boolean;
}

export interface NodeListQuery {
  selector?: string;
  status?: NodeStatus;
  q?: string;
  limit?: number;
  offset?: number;
  /** Default hostname; see node-order.ts. */
  sort?: NodeSort;
}

export interface RegistryOptions {
  store: Store;
  clock: Clock;
  hub: EventHub;
  offlineAfterMs: number;
  latestMetrics: (nodeId: string) => MetricsBody | null;
  /** Sessions other replicas hold (replicas/session-owners.ts; NO_OTHER_REPLICAS with one replica). */
  remoteSessions: RemoteSessions;
  /** How long a drain waits for running work unless the request says otherwise (default 10m). */
  drainTimeoutMs?: number;
}

/**
 * Every enrolled node: durable state in the store, liveness in memory. Status is derived:
 * DECOMMISSIONED and PENDING come from the stored state, then OFFLINE when no frame arrived
 * within offlineAfterMs, then the stored state (READY, CORDONED, DRAINING, DRAINED, UNHEALTHY).
 * The stored state changes only through `states` (health/node-state-machine.ts).
 */
export class NodeRegistry {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly labels = new Map<string, Record<string, string>>();
  private readonly live = new Map<string, Liveness>();
  /** Nodes that went OFFLINE while a session was still open (counted by the gateway benchmark). */
  offlineTransitions = 0;
  private readonly dirtyAcks = new Set<string>();
  /**
   * Node ids in the default order (hostname, then id), kept until a node joins or changes its
   * hostname: at 100,000 nodes the sort takes 0.3-0.4 s, and every node list, heatmap and GPU
   * order asked for it again. Ids, not records: a record is replaced whenever the node changes.
   */
  private hostnameOrder: string[] | null = null;
  private hostnameOrderVersion = 0;
  /** Nodes managed over SSH: whether the last contact succeeded, and when it was (set by the SSH hosts service). */
  private readonly contacts = new Map<string, { reachable: boolean; at: number | null }>();
  /** The node and GPU state machine: cordon, drain, mark unhealthy, clear, with who and why. */
  readonly states: NodeStateMachine;

  constructor(private readonly opts: RegistryOptions) {
    this.states = new NodeStateMachine({
      store: opts.store,
      clock: opts.clock,
      hub: opts.hub,
      nodes: { get: (id) => this.nodes.get(id), adopt: (id, patch) => this.adopt(id, patch) },
      ...(opts.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: opts.drainTimeoutMs }),
    });
  }

  async load(): Promise<void> {
    for (const node of await this.opts.store.listNodes()) this.remember(node);
    await this.states.load();
  }

  /** A state the state machine has stored. */
  private adopt(id: string, patch: Pick<NodeRecord, 'adminState' | 'cordonReason'>): void {
    const node = this.nodes.get(id);
    if (!node) return;
    this.remember({ ...node, ...patch });
    this.opts.hub.publish({ type: 'node', nodeId: id, change: 'status' });
  }

  private remember(node: NodeRecord): void {
    if (this.nodes.get(node.id)?.hostname !== node.hostname) {
      this.hostnameOrder = null;
      this.hostnameOrderVersion++;
    }
    this.nodes.set(node.id, node);
    // The hostname label is the node's unique hostname (see applyInventory), not whatever the host reported last.
    this.labels.set(node.id, {
      ...node.tokenLabels,
      ...node.userLabels,
      ...builtinLabels({ ...node.facts, hostname: node.hostname }, node.gpus, node.simulated),
    });
  }

  get size(): number {
    return this.nodes.size;
  }

  get(id: string): NodeRecord | undefined {
    return this.nodes.get(id);
  }

  labelsOf(id: string): Record<string, string> {
    return this.labels.get(id) ?? {};
  }

  /**
   * Finds a node by id (always), unique id prefix (with or without `did:key:`), or hostname when
   * only one node has it. A decommissioned node keeps its hostname, so a live node that took the
   * name over is the one meant; two live nodes (or only removed ones) sharing it are a conflict
   * that lists the candidates, never a guess.
   */
  resolve(ref: string): NodeRecord {
    const exact = this.nodes.get(ref);
    if (exact) return exact;
    const byHostAll = [...this.nodes.values()].filter((n) => n.hostname === ref);
    const byHostLive = byHostAll.filter((n) => n.adminState !== 'decommissioned');
    const byHost = byHostLive.length > 0 ? byHostLive : byHostAll;
    if (byHost.length === 1) return byHost[0]!;
    if (byHost.length > 1) {
      const candidates = byHost.slice(0, 10).map((n) => ({ id: n.id, hostname: n.hostname, status: this.status(n) }));
      throw new FleetError(
        'conflict',
        `hostname '${ref}' is shared by ${byHost.length} nodes; name the node by its id: ${candidates.map((c) => `${c.id} (${c.status})`).join(', ')}`,
        {
          details: { matches: candidates.map((c) => c.id), candidates },
        },
      );
    }
    const prefix = ref.startsWith('did:key:') ? ref : `did:key:${ref}`;
    const found = ref.length >= 4 ? [...this.nodes.values()].filter((n) => n.id.startsWith(prefix)) : [];
    if (found.length === 1) return found[0]!;
    if (found.length > 1)
      throw new FleetError('conflict', `'${ref}' matches ${found.length} nodes; use more of the id`, {
        details: { matches: found.slice(0, 10).map((n) => n.id) },
      });
    throw new FleetError('not_found', `no node '${ref}' (give an id, an id prefix or a hostname)`);
  }

  status(node: NodeRecord): NodeStatus {
    const state = nodeStateOf(node);
    if (state === 'DECOMMISSIONED' || state === 'PENDING') return state;
    // A node without an agent is never OFFLINE: it is UNREACHABLE while SSH to it fails (or before any contact).
    if (node.mode === 'ssh') return this.contacts.get(node.id)?.reachable ? state : 'UNREACHABLE';
    if (!this.live.get(node.id)?.online && !this.opts.remoteSessions.heldElsewhere(node.id)) return 'OFFLINE';
    return state;
  }

  isOnline(id: string): boolean {
    if (this.opts.remoteSessions.heldElsewhere(id)) return true;
    // SSH contacts count only while the node is managed over SSH (a promoted node's last contact says nothing of its agent).
    return this.live.get(id)?.online ?? (this.nodes.get(id)?.mode === 'ssh' ? (this.contacts.get(id)?.reachable ?? false) : false);
  }

  /**
   * Reads a node's stored record again: another replica changed it (enrolled, labels, states,
   * inventory). Liveness stays as it is here; the record is what the store says now.
   */
  async reload(id: string): Promise<void> {
    const node = await this.opts.store.getNode(id);
    if (!node) return;
    const known = this.nodes.get(id);
    // The outbox position only grows, and this replica may have moved it further itself.
    this.remember(known && known.ackedSeq > node.ackedSeq ? { ...node, ackedSeq: known.ackedSeq } : node);
  }

  /** Records the outcome of an SSH contact with a node managed over SSH (its status follows it). */
  setContact(id: string, reachable: boolean, at: number | null): void {
    const before = this.contacts.get(id);
    this.contacts.set(id, { reachable, at: at ?? before?.at ?? null });
    if (before?.reachable !== reachable) this.opts.hub.publish({ type: 'node', nodeId: id, change: 'status' });
  }

  /** When the node was last heard from (this run's liveness, else the stored time); null: never. */
  lastSeen(id: string): number | null {
    return this.live.get(id)?.lastFrameAt ?? this.contacts.get(id)?.at ?? this.nodes.get(id)?.lastSeenAt ?? null;
  }

  async add(node: NodeRecord): Promise<void> {
    await this.opts.store.insertNode(node);
    this.remember(node);
    this.opts.hub.publish({ type: 'node', nodeId: node.id, change: 'enrolled' });
  }

  async update(id: string, patch: Partial<Omit<NodeRecord, 'id' | 'enrolledAt'>>, change: 'status' | 'labels' | 'inventory'): Promise<NodeRecord> {
    const node = this.nodes.get(id);
    if (!node) throw new FleetError('not_found', `no node ${id}`);
    await this.opts.store.updateNode(id, patch);
    // Merged onto the record as it is now: a state change stored meanwhile must not be undone.
    const next = { ...(this.nodes.get(id) ?? node), ...patch };
    this.remember(next);
    this.opts.hub.publish({ type: 'node', nodeId: id, change });
    return next;
  }

  async setUserLabels(id: string, set: Record<string, string>, remove: string[]): Promise<NodeRecord> {
    const reserved = [...Object.keys(set), ...remove].filter((k) => (BUILTIN_LABEL_KEYS as readonly string[]).includes(k));
    if (reserved.length > 0) throw new FleetError('invalid_argument', `label ${reserved.map((k) => `'${k}'`).join(', ')} is built in and set by the server`);
    const node = this.resolve(id);
    const userLabels = { ...node.userLabels, ...set };
    for (const key of remove) delete userLabels[key];
    return this.update(node.id, { userLabels }, 'labels');
  }

  async applyInventory(id: string, inv: InventoryBody): Promise<void> {
    // Hostnames are unique among live nodes (EnrollmentService): a host renaming itself onto another
    // node's hostname keeps its own, so it cannot pose as that node to selectors and people.
    const node = this.nodes.get(id);
    const wanted = inv.host.hostname;
    // A node added over SSH (it has contacts) keeps the name its operator gave it, also once promoted and its agent reports the OS hostname.
    const taken =
      node !== undefined &&
      wanted !== node.hostname &&
      (this.contacts.has(id) || [...this.nodes.values()].some((n) => n.id !== id && n.hostname === wanted && n.adminState !== 'decommissioned'));
    await this.update(
      id,
      { facts: inv.host, gpus: inv.gpus, toolFailures: inv.toolFailures, hostname: taken ? node.hostname : wanted, agentVersion: inv.host.agentVersion },
      'inventory',
    );
  }

  /**
   * Remembers the highest stored outbox seq. Written to the store lazily with the last-seen
   * batch: the items themselves are already durable and de-duplicated by (node, seq), so a
   * stale value after a crash only makes the gateway accept a forward jump once.
   */
  setAckedSeq(id: string, seq: number): void {
    const node = this.nodes.get(id);
    if (!node || seq <= node.ackedSeq) return;
    node.ackedSeq = seq;
    this.dirtyAcks.add(id);
  }

  /** Decommissions a node (through the state machine, so it is recorded with who and why). */
  async remove(id: string, actor = 'system', reason: string | null = null): Promise<void> {
    await this.states.node(id, 'decommission', actor, reason);
    this.live.delete(id);
    this.opts.hub.publish({ type: 'node', nodeId: id, change: 'removed' });
  }

  /** Any frame from a node counts as a sign of life. Cheap: called for every frame. */
  seen(id: string): void {
    const now = this.opts.clock.now();
    const l = this.live.get(id);
    if (!l) {
      this.live.set(id, { online: true, lastFrameAt: now, dirty: true });
      this.opts.hub.publish({ type: 'node', nodeId: id, change: 'status' });
      return;
    }
    l.lastFrameAt = now;
    l.dirty = true;
    if (!l.online) {
      l.online = true;
      this.opts.hub.publish({ type: 'node', nodeId: id, change: 'status' });
    }
  }

  /** Marks nodes OFFLINE that sent nothing for offlineAfterMs; returns their ids. */
  sweep(hasSession: (id: string) => boolean): string[] {
    const now = this.opts.clock.now();
    const gone: string[] = [];
    for (const [id, l] of this.live) {
      if (l.online && now - l.lastFrameAt > this.opts.offlineAfterMs) {
        l.online = false;
        if (hasSession(id)) this.offlineTransitions++;
        gone.push(id);
        this.opts.hub.publish({ type: 'node', nodeId: id, change: 'status' });
      }
    }
    return gone;
  }

  /** Writes last-seen times in one batch (heartbeats are never written one by one). */
  async flushLastSeen(): Promise<number> {
    const batch: Array<{ id: string; lastSeenAt: number }> = [];
    for (const [id, l] of this.live) {
      if (!l.dirty) continue;
      l.dirty = false;
      batch.push({ id, lastSeenAt: l.lastFrameAt });
      const node = this.nodes.get(id);
      if (node) node.lastSeenAt = l.lastFrameAt;
    }
    if (batch.length > 0) await this.opts.store.touchNodes(batch);
    const acks: Array<{ id: string; ackedSeq: number }> = [];
    for (const id of this.dirtyAcks) {
      const node = this.nodes.get(id);
      if (node) acks.push({ id, ackedSeq: node.ackedSeq });
    }
    this.dirtyAcks.clear();
    // One transaction for every node's position: a fan-out to 10,000 hosts moved them all.
    if (acks.length > 0) await this.opts.store.saveAckedSeqs(acks);
    return batch.length;
  }

  /**
   * One page of the nodes a query picks, in its order, and how many it picks. It gives the event
   * loop back while it filters and sorts: reads of the whole fleet (node list, heatmap, GPU order)
   * took up to a second each in one piece at 100,000 nodes, with every lease renewal and
   * heartbeat of the replica waiting behind them.
   */
  async list(query: NodeListQuery = {}): Promise<{ items: NodeRecord[]; total: number }> {
    const plan = this.listPlan(query);
    if (plan.inOrder && this.hostnameOrder === null) {
      const version = this.hostnameOrderVersion;
      const order = (await sortNodes([...this.nodes.values()], 'hostname', plan.facts)).map((n) => n.id);
      // A node that joined (or was renamed) meanwhile is not in this order: keep it only if none did.
      if (version === this.hostnameOrderVersion) this.hostnameOrder = order;
      else return page(await sortNodes([...this.nodes.values()].filter(plan.keep), undefined, plan.facts), query);
    }
    const all: NodeRecord[] = [];
    await forEachInSlices(this.source(plan.inOrder), FLEET_SLICE, (n) => {
      if (plan.keep(n)) all.push(n);
    });
    // Filtering keeps the kept order: only another order needs a sort.
    return page(plan.inOrder ? all : await sortNodes(all, query.sort, plan.facts), query);
  }

  private listPlan(query: NodeListQuery) {
    const selector = parseSelector(query.selector ?? '');
    const q = query.q?.toLowerCase();
    const facts = { status: (n: NodeRecord) => this.status(n), latestMetrics: this.opts.latestMetrics, lastSeen: (id: string) => this.lastSeen(id) };
    const { key, descending } = parseNodeSort(query.sort ?? 'hostname');
    const keep = (n: NodeRecord) =>
      (query.status ? this.status(n) === query.status : n.adminState !== 'decommissioned') &&
      (!q || n.hostname.toLowerCase().includes(q) || n.id.includes(q)) &&
      matchesSelector(selector, this.labelsOf(n.id));
    return { facts, keep, inOrder: key === 'hostname' && !descending };
  }

  /** The nodes to filter: in the kept hostname order when that is the order asked for. */
  private source(inOrder: boolean): NodeRecord[] {
    return inOrder && this.hostnameOrder !== null ? this.hostnameOrder.map((id) => this.nodes.get(id)!) : [...this.nodes.values()];
  }

  all(): NodeRecord[] {
    return [...this.nodes.values()];
  }
}

/** One page of an ordered list, with the count of the whole. */
function page(sorted: NodeRecord[], query: NodeListQuery): { items: NodeRecord[]; total: number } {
  const offset = query.offset ?? 0;
  const limit = query.limit ?? 500;
  return { items: sorted.slice(offset, offset + limit), total: sorted.length };
}
