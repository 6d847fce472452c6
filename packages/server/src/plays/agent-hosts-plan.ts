import { FleetError, localPlayScript, localPlayTarget, type PlayPlanAgentHost, type SignedCommand } from '@gpufleet/protocol';
import type { NodeGroups } from '../jobcenter/job-center-contracts.js';
import type { TemplateRecord } from '../store/store.js';
import { playVars } from './play-hosts.js';

/**
 * The agent hosts' side of a play: what each host's part is made of (for the plan the CLI signs
 * from), and the check that the signed parts a start brings are exactly those parts. A part is an
 * ordinary signed shell command (localPlayScript); the host verifies signature, capability and
 * selector itself, and this check keeps a stale or foreign signed command out of the play.
 */

/** Each agent host's groups and merged variables; connection variables are left out with a note. */
export async function planAgentHosts(
  hosts: { nodeId: string; hostname: string }[],
  extra: Record<string, unknown>,
  groups: NodeGroups,
): Promise<PlayPlanAgentHost[]> {
  const out: PlayPlanAgentHost[] = [];
  for (const h of hosts) {
    const { vars, notes } = await playVars(h.nodeId, h.hostname, extra, groups);
    const memberOf = (await groups.groupsOf(h.nodeId)).map((g) => g.name);
    out.push({ nodeId: h.nodeId, hostname: h.hostname, target: localPlayTarget(h.hostname), groups: memberOf, vars, notes });
  }
  return out;
}

/** The script an agent host's part must carry, from the play's own parts. */
export function expectedScript(template: TemplateRecord, host: PlayPlanAgentHost, extraVars: Record<string, unknown>, check: boolean): string {
  return localPlayScript({
    template: { name: template.name, version: template.version, sha256: template.sha256, playbook: template.playbook, become: template.become },
    hostname: host.hostname,
    groups: host.groups,
    defaults: template.vars,
    vars: host.vars,
    extraVars,
    check,
  });
}

/**
 * Matches signed parts to the agent hosts: one per host, each an `exec/run` shell command whose
 * target is the host's own selector and whose script is exactly the expected one. Returns the
 * command for each node id; anything else is a FleetError that says what differs.
 */
export function matchAgentCommands(
  commands: readonly SignedCommand[],
  hosts: readonly PlayPlanAgentHost[],
  script: (host: PlayPlanAgentHost) => string,
): Map<string, SignedCommand> {
  const byTarget = new Map<string, PlayPlanAgentHost[]>();
  for (const h of hosts) byTarget.set(h.target, [...(byTarget.get(h.target) ?? []), h]);
  const matched = new Map<string, SignedCommand>();
  const runIds = new Set<string>();
  for (const [i, c] of commands.entries()) {
    const p = c.payload;
    const spec = p.command;
    const where = `agentCommands[${i}]`;
    if (spec.kind !== 'shell' || p.ability !== 'exec/run')
      throw new FleetError('invalid_argument', `${where}: an agent host's part is an exec/run shell command, not ${p.ability} ${spec.kind}`);
    if (runIds.has(p.runId)) throw new FleetError('invalid_argument', `${where}: run id ${p.runId} is used twice; each part needs its own`);
    runIds.add(p.runId);
    const candidates = byTarget.get(p.target);
    if (!candidates) throw new FleetError('invalid_argument', `${where}: target '${p.target.slice(0, 200)}' is no agent host of this play`);
    const host = candidates.find((h) => !matched.has(h.nodeId) && script(h) === spec.script);
    if (!host) {
      const taken = candidates.every((h) => matched.has(h.nodeId));
      throw new FleetError(
        'failed_precondition',
        taken
          ? `${where}: ${candidates[0]!.hostname} has two signed parts`
          : `${where}: the signed script for ${candidates[0]!.hostname} is not this play's (its template, variables or options changed since the plan): plan and sign again`,
      );
    }
    matched.set(host.nodeId, c);
  }
  const missing = hosts.filter((h) => !matched.has(h.nodeId)).map((h) => h.hostname);
  if (missing.length > 0)
    throw new FleetError(
      'invalid_argument',
      `agentCommands: no signed part for ${missing.length} agent host(s) the selector picks: ${missing.slice(0, 10).join(', ')}`,
    );
  return matched;
}
