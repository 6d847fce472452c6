import { createHash } from 'node:crypto';
import { localPlayScript, signCommand, type Capability, type PlayPlanView, type SignedCommand } from '@gpufleet/protocol';
import { CliError } from '../errors.js';
import { buildPayload } from '../exec/build-payload.js';

/**
 * Signs each agent host's part of a planned play: the script is rendered here, from the plan's
 * playbook, groups and variables (the server renders it again and refuses any difference), and
 * signed like any `exec/run` shell command, so each host runs its part only after its own checks
 * of the signature, the capability and its hostname.
 */
export function signAgentParts(plan: PlayPlanView, key: { did: string; privateKeyPem: string }, capability: Capability | null, now: number): SignedCommand[] {
  const { template } = plan;
  const actual = createHash('sha256').update(template.playbook).digest('hex');
  if (actual !== template.sha256) {
    throw new CliError(
      `the server's playbook for ${template.name}@${template.version} hashes to ${actual.slice(0, 12)}…, not ${template.sha256.slice(0, 12)}… as recorded: nothing signed`,
    );
  }
  return plan.agents.map((host) => {
    const script = localPlayScript({
      template: { name: template.name, version: template.version, sha256: template.sha256, playbook: template.playbook, become: template.become },
      hostname: host.hostname,
      groups: host.groups,
      defaults: template.vars,
      vars: host.vars,
      extraVars: plan.extraVars,
      check: plan.check,
    });
    const payload = buildPayload({
      spec: { kind: 'shell', script },
      selector: host.target,
      timeoutMs: plan.timeoutMs,
      env: {},
      cwd: null,
      runAs: null,
      invoker: key.did,
      capability,
      now,
    });
    return signCommand(payload, key.privateKeyPem);
  });
}
