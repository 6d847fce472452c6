/**
 * Node groups and layered variables as stored (issue 12, migration 0010). A group's members are its
 * static members (node ids listed by hand) plus, computed by the groups service, the nodes its
 * selector matches. Variables live in one of three scopes: global (target ''), a group (its name)
 * or a node (its id). Times are epoch ms.
 */

export const VAR_RECORD_SCOPES = ['global', 'group', 'node'] as const;
export type VarRecordScope = (typeof VAR_RECORD_SCOPES)[number];

export interface GroupRecord {
  name: string;
  description: string;
  /** Higher wins when two groups set the same variable. */
  priority: number;
  /** A label selector (the CLI's syntax), or null for static members only. */
  selector: string | null;
  /** Static member node ids, sorted. */
  members: string[];
  createdAt: number;
  updatedAt: number;
  createdBy: string;
}

export type GroupPatch = Partial<Pick<GroupRecord, 'description' | 'priority' | 'selector' | 'updatedAt'>>;

export interface VarRecord {
  scope: VarRecordScope;
  /** '' for global, the group name, or the node id. */
  target: string;
  name: string;
  /** Any JSON value. */
  value: unknown;
  updatedAt: number;
  updatedBy: string;
}

/** One scope's variables changed in one transaction. */
export interface VarsChange {
  scope: VarRecordScope;
  target: string;
  set: Record<string, unknown>;
  remove: readonly string[];
  at: number;
  by: string;
}

export interface GroupStore {
  /** The group and its static members in one transaction; already_exists when the name is taken. */
  insertGroup(group: GroupRecord): Promise<void>;
  getGroup(name: string): Promise<GroupRecord | undefined>;
  /** By name. */
  listGroups(): Promise<GroupRecord[]>;
  /** Patches the group and adds/removes static members in one transaction; not_found when absent. */
  updateGroup(name: string, patch: GroupPatch, members?: { add?: readonly string[]; remove?: readonly string[] }): Promise<void>;
  /** Deletes the group, its static members and its variables; false when there was none. */
  deleteGroup(name: string): Promise<boolean>;
  /** Sets and removes variables of one scope and target in one transaction. */
  changeVars(change: VarsChange): Promise<void>;
  /** Every variable, or one scope's, or one target's; by scope, target, then name. */
  listVars(query?: { scope?: VarRecordScope; target?: string }): Promise<VarRecord[]>;
  /** A node leaves the fleet: it leaves every group and its node variables go, in one transaction. */
  forgetNodeInGroups(nodeId: string): Promise<void>;
}
