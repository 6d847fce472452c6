import type { ResolvedVarsView } from '@gpufleet/protocol';
import type { SshEndpoint, SshHostKey } from '../ssh/ssh-transport.js';

/**
 * What the job center's parts give each other (issue 12), so each is built and tested alone:
 * the SSH hosts service (ssh-hosts/) answers SshHostDirectory; groups and variables (groups/)
 * answer NodeGroups; plays (plays/) use both to write an inventory and run ansible-playbook.
 */

/** An SSH host as a play needs it: where, as whom, with which pinned key, and its login opened. */
export interface SshHostAccess {
  nodeId: string;
  hostname: string;
  endpoint: SshEndpoint;
  /** The pinned host key (a play writes it to a known_hosts file of its own and runs with StrictHostKeyChecking=yes). */
  hostKey: SshHostKey;
  /** The jump host's pinned key, when there is a jump host. */
  bastionHostKey: SshHostKey | null;
}

export interface SshHostDirectory {
  /** Node ids the control plane reaches over SSH: SSH nodes and promoted agent hosts, which keep their SSH access. */
  sshNodeIds(): Promise<string[]>;
  /**
   * A host's access with its login opened from the vault. Throws a FleetError (failed_precondition)
   * for a node that is not an SSH node or has no pinned key yet, with the reason.
   */
  access(nodeId: string): Promise<SshHostAccess>;
}

export interface NodeGroups {
  /**
   * The node ids a selector picks: the CLI's label selector syntax, where the key `group` means
   * membership (`group=gpu_nodes`, `group in (a,b)`, `group!=a`) and every other key a label.
   * Garbage is a FleetError (invalid_argument) naming the problem.
   */
  select(selector: string): Promise<string[]>;
  /** A node's groups, highest priority first. */
  groupsOf(nodeId: string): Promise<{ name: string; priority: number }[]>;
  /** The node's variables merged: global < groups by priority (ties by name) < node < extra. */
  resolve(nodeId: string, extra: Record<string, unknown>): Promise<ResolvedVarsView>;
}
