/** Row shapes of the group and variable tables (0010_groups); same conventions as schema.ts. */

export interface NodeGroupsTable {
  name: string;
  description: string;
  priority: number;
  selector: string | null;
  created_at: number;
  updated_at: number;
  created_by: string;
}

export interface NodeGroupMembersTable {
  group_name: string;
  node_id: string;
}

export interface VariablesTable {
  scope: string;
  target: string;
  name: string;
  /** JSON text. */
  value: string;
  updated_at: number;
  updated_by: string;
}

export interface GroupTables {
  node_groups: NodeGroupsTable;
  node_group_members: NodeGroupMembersTable;
  variables: VariablesTable;
}
