import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandSigningInput, localPlayScript, SignedCommand, verifyEd25519, type PlayPlanView } from '@gpufleet/protocol';
import { createOperatorKey } from '../keys/index.js';
import { ENDED_OK, NOW, PLAYBOOK, PLAYBOOK_SHA, planOf, playOf, playsCli } from '../testing/plays-cli-harness.js';

/** `gpufleet plays run` when the plan has agent hosts: their parts are signed here with the operator key. */

const cli = playsCli();
const { run, posted } = { run: cli.run.bind(cli), posted: cli.posted.bind(cli) };

describe('gpufleet plays run on agent hosts', () => {
  const agents: PlayPlanView['agents'] = [
    { nodeId: 'did:key:z6Mkagent-1', hostname: 'agent-1', target: 'hostname=agent-1', groups: ['gpu'], vars: { slot: 'a' }, notes: [] },
    {
      nodeId: 'did:key:z6Mkagent-2',
      hostname: 'agent-2',
      target: 'hostname=agent-2',
      groups: [],
      vars: { slot: 'b' },
      notes: ['agent-2: variable ansible_host (from node) is ignored'],
    },
  ];

  it("signs each agent host's part with the operator key: the host's own target, an exec/run shell command rendering exactly the planned play", async () => {
    const env = { XDG_CONFIG_HOME: join(cli.home, 'xdg-sign') };
    const key = createOperatorKey('ops', { env, home: cli.home });
    cli.api.json.set('POST /api/v1/plays/plan', () => ({ body: planOf({ agents, extraVars: { run: 1 }, check: true }) }));
    cli.api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    cli.api.streams.set('GET /api/v1/plays/play_01/stream', [{ event: 'end', data: ENDED_OK }]);
    const r = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu', '-e', 'run=1', '--check', '--key', 'ops'], { env });
    expect(r.stderr).toMatch(/note: agent-2: variable ansible_host \(from node\) is ignored/);
    expect(r.stderr).toMatch(/signed the part of 2 agent host\(s\) with did:key:/);
    expect(r.code).toBe(0);
    expect(posted('/api/v1/plays/plan')).toEqual([{ template: 'connectivity_check', selector: 'group=gpu', check: true, extraVars: { run: 1 } }]);
    const [body] = posted('/api/v1/plays') as { agentCommands: unknown[] }[];
    expect(body!.agentCommands).toHaveLength(2);
    for (const [i, raw] of body!.agentCommands.entries()) {
      const c = SignedCommand.parse(raw);
      const host = agents[i]!;
      expect(c.payload).toMatchObject({ ability: 'exec/run', target: host.target, invoker: key.did, capability: null, timeoutMs: 600_000, issuedAt: NOW });
      expect(verifyEd25519(key.did, commandSigningInput(c.payload), c.sig)).toBe(true);
      expect(c.payload.command).toEqual({
        kind: 'shell',
        script: localPlayScript({
          template: { name: 'connectivity_check', version: 1, sha256: PLAYBOOK_SHA, playbook: PLAYBOOK, become: false },
          hostname: host.hostname,
          groups: host.groups,
          defaults: { port: 9100 },
          vars: host.vars,
          extraVars: { run: 1 },
          check: true,
        }),
      });
    }
  });

  it('without a key it says how to sign or leave the agent hosts out; --ssh-only signs nothing; a playbook that does not hash as recorded is not signed', async () => {
    const env = { XDG_CONFIG_HOME: join(cli.home, 'xdg-none') };
    cli.api.json.set('POST /api/v1/plays/plan', () => ({ body: planOf({ agents }) }));
    const missing = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/picks 2 agent host\(s\), whose parts are signed with your operator key: pass --key, or --ssh-only/);
    expect(posted('/api/v1/plays')).toEqual([]);

    cli.api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    expect((await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu', '--ssh-only', '--detach'], { env })).code).toBe(0);
    expect(posted('/api/v1/plays')).toEqual([{ template: 'connectivity_check', selector: 'group=gpu', check: false }]);

    createOperatorKey('ops', { env, home: cli.home });
    cli.api.json.set('POST /api/v1/plays/plan', () => ({ body: planOf({ agents, template: { ...planOf().template, playbook: `${PLAYBOOK}# changed\n` } }) }));
    const tampered = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu', '--key', 'ops'], { env });
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/hashes to .*, not 86e8d73a24af… as recorded: nothing signed/);
    expect(posted('/api/v1/plays')).toHaveLength(1);
  });
});
