import {
  FleetError,
  type CreateGroupRequest,
  type GroupView,
  type ResolvedVarsView,
  type SetVarsRequest,
  type UpdateGroupRequest,
  type VarScope,
  type VarsView,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { NodeRecord, Store, GroupRecord } from '../store/store.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { NodeGroups } from '../jobcenter/job-center-contracts.js';
import { matchesGroupAware, parseGroupAwareSelector, parseGroupSelector } from './group-selector.js';
import { groupsInMergeOrder, mergeVarLayers, type VarLayer } from './var-merge.js';
import { resolveNodeRefs } from './node-refs.js';

export interface GroupsServiceOptions {
  store: Store;
  registry: NodeRegistry;
  clock: Clock;
  hub: EventHub;
  /** Where a failure to forget a removed node is reported. */
  warn: (message: string, err: unknown) => void;
}

/**
 * Node groups and layered variables (issue 12). A group's nodes are its static members and the
 * nodes its label selector matches, live nodes only; variables merge global < groups by priority
 * (ties by name) < node < a run's extra vars. Every change is reported to the caller's audit.
 */
export class GroupsService implements NodeGroups {
  #unsubscribe: (() => void) | null = null;

  constructor(private readonly opts: GroupsServiceOptions) {}

  /** A removed node leaves its groups and loses its node variables. */
  start(): void {
    this.#unsubscribe = this.opts.hub.subscribe((event) => {
      if (event.type !== 'node' || event.change !== 'removed') return;
      this.opts.store.forgetNodeInGroups(event.nodeId).catch((err) => this.opts.warn(`groups: could not forget removed node ${event.nodeId}`, err));
    });
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  // ---- groups ----

  async list(): Promise<GroupView[]> {
    const [groups, vars] = await Promise.all([this.opts.store.listGroups(), this.opts.store.listVars({ scope: 'group' })]);
    return groups.map((g) => this.view(g, Object.fromEntries(vars.filter((v) => v.target === g.name).map((v) => [v.name, v.value]))));
  }

  async get(name: string): Promise<GroupView> {
    const group = await this.must(name);
    return this.view(group, await this.varsOf('group', name));
  }

  async create(req: CreateGroupRequest, audit: ActionAudit): Promise<GroupView> {
    const selector = req.selector === undefined ? null : parseGroupSelector(req.selector);
    const members = resolveNodeRefs(this.opts.registry, req.members ?? [], 'members');
    const now = this.opts.clock.now();
    await this.opts.store.insertGroup({
      name: req.name,
      description: req.description ?? '',
      priority: req.priority,
      selector,
      members: [...new Set(members)].sort(),
      createdAt: now,
      updatedAt: now,
      createdBy: audit.actor,
    });
    await audit.note({ action: 'groups.create', target: req.name, result: 'ok', details: { priority: req.priority, selector, members } });
    return this.get(req.name);
  }

  async update(name: string, req: UpdateGroupRequest, audit: ActionAudit): Promise<GroupView> {
    const group = await this.must(name);
    const selector = req.selector === undefined || req.selector === null ? req.selector : parseGroupSelector(req.selector);
    const add = resolveNodeRefs(this.opts.registry, req.add ?? [], 'add');
    const remove = resolveNodeRefs(this.opts.registry, req.remove ?? [], 'remove');
    const notMembers = (req.remove ?? []).filter((_, i) => !group.members.includes(remove[i]!));
    if (notMembers.length > 0) throw new FleetError('invalid_argument', `remove: not static members of group '${name}': ${notMembers.join(', ')}`);
    const both = add.filter((id) => remove.includes(id));
    if (both.length > 0) throw new FleetError('invalid_argument', `add and remove both name: ${both.join(', ')}`);
    const patch = {
      ...(req.description === undefined ? {} : { description: req.description }),
      ...(req.priority === undefined ? {} : { priority: req.priority }),
      ...(selector === undefined ? {} : { selector }),
    };
    if (Object.keys(patch).length === 0 && add.length === 0 && remove.length === 0) {
      throw new FleetError('invalid_argument', 'nothing to change: give description, priority, selector, add or remove');
    }
    await this.opts.store.updateGroup(name, { ...patch, updatedAt: this.opts.clock.now() }, { add, remove });
    await audit.note({ action: 'groups.update', target: name, result: 'ok', details: { ...patch, add, remove } });
    return this.get(name);
  }

  async delete(name: string, audit: ActionAudit): Promise<void> {
    const group = await this.must(name);
    await this.opts.store.deleteGroup(name);
    await audit.note({ action: 'groups.delete', target: name, result: 'ok', details: { priority: group.priority, members: group.members.length } });
  }

  // ---- variables ----

  async getVars(scope: VarScope, target: string | undefined): Promise<VarsView> {
    const key = await this.varTarget(scope, target);
    const records = await this.opts.store.listVars({ scope, target: key });
    const updatedAt = records.reduce<number | null>((max, v) => (max === null || v.updatedAt > max ? v.updatedAt : max), null);
    return {
      scope,
      target: scope === 'global' ? null : key,
      vars: Object.fromEntries(records.map((v) => [v.name, v.value])),
      updatedAt: updatedAt === null ? null : new Date(updatedAt).toISOString(),
    };
  }

  async setVars(req: SetVarsRequest, audit: ActionAudit): Promise<VarsView> {
    const key = await this.varTarget(req.scope, req.target);
    const set = req.set ?? {};
    const remove = req.remove ?? [];
    if (Object.keys(set).length === 0 && remove.length === 0) throw new FleetError('invalid_argument', 'nothing to change: give set or remove');
    const both = remove.filter((n) => Object.hasOwn(set, n));
    if (both.length > 0) throw new FleetError('invalid_argument', `set and remove both name: ${both.join(', ')}`);
    await this.opts.store.changeVars({ scope: req.scope, target: key, set, remove, at: this.opts.clock.now(), by: audit.actor });
    // Names only: a variable may hold something sensitive, and its value is in the store.
    await audit.note({
      action: 'vars.set',
      target: req.scope === 'global' ? 'global' : `${req.scope}:${key}`,
      result: 'ok',
      details: { set: Object.keys(set), remove },
    });
    return this.getVars(req.scope, key);
  }

  // ---- what plays use (NodeGroups) ----

  async select(selector: string): Promise<string[]> {
    const parsed = parseGroupAwareSelector(selector);
    const membership = await this.membership();
    return this.liveNodes()
      .filter((n) => matchesGroupAware(parsed, membership.get(n.id) ?? new Set(), this.opts.registry.labelsOf(n.id)))
      .map((n) => n.id);
  }

  async groupsOf(nodeId: string): Promise<{ name: string; priority: number }[]> {
    const groups = (await this.opts.store.listGroups()).filter((g) => this.nodeIdsOf(g).includes(nodeId));
    return groupsInMergeOrder(groups)
      .reverse()
      .map((g) => ({ name: g.name, priority: g.priority }));
  }

  async resolve(nodeId: string, extra: Record<string, unknown>): Promise<ResolvedVarsView> {
    const node = this.opts.registry.get(nodeId);
    if (!node) throw new FleetError('not_found', `no node ${nodeId}`);
    const groups = groupsInMergeOrder((await this.opts.store.listGroups()).filter((g) => this.nodeIdsOf(g).includes(node.id)));
    const all = await this.opts.store.listVars();
    const varsWhere = (scope: VarScope, target: string) =>
      Object.fromEntries(all.filter((v) => v.scope === scope && v.target === target).map((v) => [v.name, v.value]));
    const layers: VarLayer[] = [
      { scope: 'global', source: null, vars: varsWhere('global', '') },
      ...groups.map((g): VarLayer => ({ scope: 'group', source: g.name, vars: varsWhere('group', g.name) })),
      { scope: 'node', source: node.id, vars: varsWhere('node', node.id) },
      { scope: 'extra', source: null, vars: extra },
    ];
    return {
      nodeId: node.id,
      hostname: node.hostname,
      groups: groups.reverse().map((g) => ({ name: g.name, priority: g.priority })),
      vars: mergeVarLayers(layers),
    };
  }

  /** A node reference (id, id prefix or hostname) as the registry resolves it. */
  nodeIdOf(ref: string): string {
    return this.opts.registry.resolve(ref).id;
  }

  // ---- helpers ----

  private async must(name: string): Promise<GroupRecord> {
    const group = await this.opts.store.getGroup(name);
    if (!group) {
      const known = (await this.opts.store.listGroups()).map((g) => g.name);
      throw new FleetError('not_found', `no group '${name}'${known.length > 0 ? ` (groups: ${known.slice(0, 20).join(', ')})` : ' (no groups yet)'}`);
    }
    return group;
  }

  /** The stored target of a scope: '' for global, an existing group's name, a node's id. */
  private async varTarget(scope: VarScope, target: string | undefined): Promise<string> {
    if (scope === 'global') {
      if (target !== undefined && target !== '') throw new FleetError('invalid_argument', 'target: global variables have no target');
      return '';
    }
    if (target === undefined || target === '')
      throw new FleetError('invalid_argument', `target: name the ${scope} (${scope === 'group' ? 'group name' : 'node id or hostname'})`);
    if (scope === 'group') return (await this.must(target)).name;
    return this.opts.registry.resolve(target).id;
  }

  private liveNodes(): NodeRecord[] {
    return this.opts.registry.all().filter((n) => n.adminState !== 'decommissioned');
  }

  /** Live static members and live nodes the selector matches, in node order. */
  private nodeIdsOf(group: GroupRecord): string[] {
    const selector = group.selector === null ? null : parseGroupAwareSelector(group.selector);
    const statics = new Set(group.members);
    return this.liveNodes()
      .filter((n) => statics.has(n.id) || (selector !== null && matchesGroupAware(selector, new Set(), this.opts.registry.labelsOf(n.id))))
      .map((n) => n.id);
  }

  /** Each live node's groups. */
  private async membership(): Promise<Map<string, Set<string>>> {
    const byNode = new Map<string, Set<string>>();
    for (const group of await this.opts.store.listGroups()) {
      for (const id of this.nodeIdsOf(group)) {
        const set = byNode.get(id) ?? new Set<string>();
        set.add(group.name);
        byNode.set(id, set);
      }
    }
    return byNode;
  }

  private async varsOf(scope: VarScope, target: string): Promise<Record<string, unknown>> {
    return Object.fromEntries((await this.opts.store.listVars({ scope, target })).map((v) => [v.name, v.value]));
  }

  private view(group: GroupRecord, vars: Record<string, unknown>): GroupView {
    const nodes = this.nodeIdsOf(group)
      .map((id) => ({ id, hostname: this.opts.registry.get(id)?.hostname ?? id }))
      .sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.id < b.id ? -1 : 1));
    return {
      name: group.name,
      description: group.description,
      priority: group.priority,
      selector: group.selector,
      members: group.members,
      nodes,
      vars,
      createdAt: new Date(group.createdAt).toISOString(),
    };
  }
}
