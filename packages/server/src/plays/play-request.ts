import { randomBytes } from 'node:crypto';
import { FleetError, type PlayPlanView, type SignedCommand, type StartPlayRequest } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { NodeGroups, SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import type { PlayHostRecord, PlayRecord, PlayRunner, Store, TemplateRecord } from '../store/store.js';
import { expectedScript, matchAgentCommands, planAgentHosts } from './agent-hosts-plan.js';
import { checkIntegrity, NO_ANSIBLE } from './play-execution.js';
import { checkExtraVars, pickHosts } from './play-hosts.js';
import { parseRunTimeout, type TemplateService } from './template-service.js';

/** What a play request is checked and resolved against. */
export interface PlayRequestDeps {
  store: Store;
  clock: Clock;
  templates: TemplateService;
  sshHosts: SshHostDirectory;
  nodeGroups: NodeGroups;
  ansiblePlaybook: string | null;
}

/** The template, variables, timeout and hosts of a request, each checked. */
async function prepare(req: StartPlayRequest, d: PlayRequestDeps) {
  const template = await d.templates.get(req.template, req.version);
  checkIntegrity(template);
  const extraVars = req.extraVars ?? {};
  checkExtraVars(extraVars);
  const timeoutMs = req.timeout === undefined ? template.timeoutMs : parseRunTimeout('timeout', req.timeout);
  const picked = await pickHosts(req.selector, d.nodeGroups, d.sshHosts, d.store);
  if (picked.ssh.length > 0 && d.ansiblePlaybook === null) throw new FleetError('failed_precondition', NO_ANSIBLE);
  return { template, extraVars, timeoutMs, picked };
}

/** What a play would run on, and the parts of each agent host's signed command (nothing is stored). */
export async function planPlay(req: StartPlayRequest, d: PlayRequestDeps): Promise<PlayPlanView> {
  const { template, extraVars, timeoutMs, picked } = await prepare(req, d);
  return {
    template: {
      name: template.name,
      version: template.version,
      sha256: template.sha256,
      playbook: template.playbook,
      become: template.become,
      vars: template.vars,
    },
    ssh: picked.ssh,
    agents: await planAgentHosts(picked.agents, extraVars, d.nodeGroups),
    extraVars,
    check: req.check,
    timeoutMs,
  };
}

/** The agent hosts' signed parts, matched to the hosts; the agent hosts left out when none were given. */
async function agentParts(
  req: StartPlayRequest,
  d: PlayRequestDeps,
  template: TemplateRecord,
  extraVars: Record<string, unknown>,
  agents: { nodeId: string; hostname: string }[],
) {
  if (req.agentCommands === undefined || agents.length === 0) {
    if (req.agentCommands !== undefined && req.agentCommands.length > 0)
      throw new FleetError('invalid_argument', 'agentCommands: the selector picks no agent host');
    return { commands: new Map<string, SignedCommand>(), leftOut: agents.map((a) => a.hostname), notes: [] as string[] };
  }
  const planned = await planAgentHosts(agents, extraVars, d.nodeGroups);
  const commands = matchAgentCommands(req.agentCommands, planned, (h) => expectedScript(template, h, extraVars, req.check));
  return { commands, leftOut: [] as string[], notes: planned.flatMap((h) => h.notes) };
}

/** A new play's records (PENDING, run by `runner`), its log's first notes and its agent hosts' signed parts. */
export interface NewPlay {
  play: PlayRecord;
  hosts: PlayHostRecord[];
  notes: string[];
  commands: Map<string, SignedCommand>;
  template: TemplateRecord;
}

export async function newPlay(req: StartPlayRequest, d: PlayRequestDeps, actor: string, runner: PlayRunner): Promise<NewPlay> {
  const { template, extraVars, timeoutMs, picked } = await prepare(req, d);
  const parts = await agentParts(req, d, template, extraVars, picked.agents);
  if (picked.ssh.length === 0 && parts.commands.size === 0) {
    throw new FleetError(
      'failed_precondition',
      `selector '${req.selector}' picks only agent hosts (${parts.leftOut.slice(0, 5).join(', ')}): their parts run as commands signed with your operator key (gpufleet plays run ... --key NAME signs them)`,
    );
  }
  const runsOn = [...picked.ssh, ...picked.agents.filter((a) => parts.commands.has(a.nodeId))];
  const id = `play_${randomBytes(8).toString('hex')}`;
  const play: PlayRecord = {
    id,
    template: template.name,
    templateVersion: template.version,
    selector: req.selector,
    serial: req.serial ?? null,
    maxFailPercentage: req.maxFailPercentage ?? null,
    check: req.check,
    extraVars,
    timeoutMs,
    state: 'PENDING',
    createdBy: actor,
    createdAt: d.clock.now(),
    startedAt: null,
    endedAt: null,
    exitCode: null,
    error: null,
    reason: req.reason ?? null,
    runner,
  };
  const hosts: PlayHostRecord[] = runsOn.map((h) => ({
    playId: id,
    nodeId: h.nodeId,
    hostname: h.hostname,
    ok: 0,
    changed: 0,
    failed: 0,
    unreachable: 0,
    skipped: 0,
    state: 'pending',
  }));
  const notes = [...parts.notes];
  if (parts.leftOut.length > 0)
    notes.push(
      `not run on ${parts.leftOut.length} agent host(s), whose parts were not signed (gpufleet plays run --key signs them): ${parts.leftOut.join(', ')}`,
    );
  return { play, hosts, notes, commands: parts.commands, template };
}
