import { FleetError } from '@gpufleet/protocol';
import type { NodeGroups, SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import type { Store } from '../store/store.js';
import { isConnectionVar } from './playbook-text.js';
import type { RunHost } from './run-folder.js';

/** The hosts a play runs on: the SSH nodes the selector picks, and its agent nodes; names unique across both. */
export interface PickedHosts {
  ssh: { nodeId: string; hostname: string }[];
  /** Nodes reached through their agents (their parts are signed commands). */
  agents: { nodeId: string; hostname: string }[];
}

export async function pickHosts(selector: string, groups: NodeGroups, directory: SshHostDirectory, store: Store): Promise<PickedHosts> {
  const picked = await groups.select(selector);
  if (picked.length === 0) throw new FleetError('failed_precondition', `selector '${selector}' picks no host`);
  const sshIds = new Set(await directory.sshNodeIds());
  const taken = new Set<string>();
  const unique = (name: string, id: string): string => {
    const free = taken.has(name) ? `${name}-${id.slice(-6).replace(/[^A-Za-z0-9]/g, '')}` : name;
    taken.add(free);
    return free;
  };
  const ssh: PickedHosts['ssh'] = [];
  for (const id of picked.filter((i) => sshIds.has(i))) {
    // Access checks each host now (a host without a pinned key is refused before the play is stored).
    const access = await directory.access(id);
    ssh.push({ nodeId: id, hostname: unique(access.hostname, id) });
  }
  const agents: PickedHosts['agents'] = [];
  for (const id of picked.filter((i) => !sshIds.has(i))) agents.push({ nodeId: id, hostname: unique((await store.getNode(id))?.hostname ?? id, id) });
  return { ssh, agents };
}

/** Refuses extra vars that would change how Ansible connects (a layered one is dropped with a note instead). */
export function checkExtraVars(extra: Record<string, unknown>): void {
  for (const name of Object.keys(extra)) {
    if (isConnectionVar(name))
      throw new FleetError('invalid_argument', `extraVars.${name}: connection variables are set by the server (pinned keys, stored logins)`);
  }
}

/**
 * A node's merged variables as a play uses them (values only): connection variables are left
 * out, each with a note, because the server sets how plays connect (or the host runs its part itself).
 */
export async function playVars(
  nodeId: string,
  hostname: string,
  extra: Record<string, unknown>,
  groups: NodeGroups,
): Promise<{ vars: Record<string, unknown>; notes: string[] }> {
  const resolved = await groups.resolve(nodeId, extra);
  const vars: Record<string, unknown> = {};
  const notes: string[] = [];
  for (const [name, v] of Object.entries(resolved.vars)) {
    if (isConnectionVar(name)) {
      notes.push(
        `${hostname}: variable ${name} (from ${v.origin.scope}${v.origin.source ? ` ${v.origin.source}` : ''}) is ignored: the server sets how plays connect`,
      );
      continue;
    }
    vars[name] = v.value;
  }
  return { vars, notes };
}

/** Each host's access (logins opened now), groups and merged variables, for the run folder. */
export async function runHosts(
  hosts: { nodeId: string; hostname: string }[],
  extra: Record<string, unknown>,
  groups: NodeGroups,
  directory: SshHostDirectory,
  note: (message: string) => void,
): Promise<RunHost[]> {
  const out: RunHost[] = [];
  for (const h of hosts) {
    const access = await directory.access(h.nodeId);
    const { vars, notes } = await playVars(h.nodeId, h.hostname, extra, groups);
    for (const n of notes) note(n);
    out.push({ name: h.hostname, access, groups: (await groups.groupsOf(h.nodeId)).map((g) => g.name), vars });
  }
  return out;
}
