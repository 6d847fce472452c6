import type { CommandPayload, PlayPlanAgentHost, PlayPlanView, SignedCommand } from '@gpufleet/protocol';
import { localPlayScript } from '../../../../protocol/src/local-play.js';
import type { BrowserSigner } from './types.js';

/*
 * The browser's half of `gpufleet plays run` on agent hosts: each agent host's part of a planned
 * play is an ordinary exec/run shell command whose script is rendered here from the plan (the
 * same localPlayScript the CLI and the server call: the server renders it again and refuses any
 * difference), drafted for the operator to see, and signed only after an explicit click.
 */

/** One agent host's part: the host and the unsigned payload shown before signing. */
export interface AgentPartDraft {
  host: PlayPlanAgentHost;
  payload: CommandPayload;
}

/** The script of one agent host's part, rendered from the plan exactly as the CLI renders it. */
export function agentPartScript(plan: PlayPlanView, host: PlayPlanAgentHost): string {
  const t = plan.template;
  return localPlayScript({
    template: { name: t.name, version: t.version, sha256: t.sha256, playbook: t.playbook, become: t.become },
    hostname: host.hostname,
    groups: host.groups,
    defaults: t.vars,
    vars: host.vars,
    extraVars: plan.extraVars,
    check: plan.check,
  });
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Throws unless the plan's playbook hashes to the SHA-256 the server recorded for the template
 * version: the operator signs what that version says, never a playbook swapped on the way.
 */
export async function checkPlaybookDigest(template: PlayPlanView['template']): Promise<void> {
  const actual = await sha256Hex(template.playbook);
  if (actual !== template.sha256) {
    throw new Error(
      `the server's playbook for ${template.name}@${template.version} hashes to ${actual.slice(0, 12)}…, not ${template.sha256.slice(0, 12)}… as recorded: nothing signed`,
    );
  }
}

/**
 * The unsigned payload of each agent host's part (fresh run id and nonce, issued now), targeted at
 * that host alone. Throws an Error naming the problem when one cannot be signed.
 */
export function draftAgentParts(plan: PlayPlanView, signer: Pick<BrowserSigner, 'draft'>): AgentPartDraft[] {
  return plan.agents.map((host) => ({
    host,
    payload: signer.draft({
      command: { kind: 'shell', script: agentPartScript(plan, host) },
      target: host.target,
      timeoutMs: plan.timeoutMs,
      env: {},
      cwd: null,
      runAs: null,
    }),
  }));
}

/**
 * Signs exactly the drafts the operator saw, after checking the plan's playbook against its
 * recorded SHA-256 (a mismatch signs nothing). One signature per agent host, in the plan's order.
 */
export async function signAgentParts(
  plan: PlayPlanView,
  drafts: readonly AgentPartDraft[],
  signer: Pick<BrowserSigner, 'signDraft'>,
): Promise<SignedCommand[]> {
  await checkPlaybookDigest(plan.template);
  // Drafts from another plan (the form changed since) would only be refused by the server later.
  const fits = (d: AgentPartDraft, i: number) => {
    const host = plan.agents[i];
    const c = d.payload.command;
    return host !== undefined && d.payload.target === host.target && c.kind === 'shell' && c.script === agentPartScript(plan, host);
  };
  if (drafts.length !== plan.agents.length || !drafts.every(fits)) throw new Error("the parts shown are not this plan's: plan again before signing");
  const signed: SignedCommand[] = [];
  for (const d of drafts) signed.push(await signer.signDraft(d.payload));
  return signed;
}
