import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, type Ed25519KeyPair, type PlayPlanView } from '@gpufleet/protocol';
import { runCli } from '../../../packages/cli/src/cli.js';
import { createOperatorKey } from '../../../packages/cli/src/keys/index.js';
import { signAgentParts } from '../../../packages/cli/src/plays/sign-agent-parts.js';
import { captureIo } from '../../../packages/cli/src/testing/capture-io.js';
import { startTestServer, type TestServer } from '../../../packages/server/src/testing/test-server.js';
import { makeKey, TestSshd } from '../../support/test-sshd.js';
import { grant } from '../remote-ops/support.js';
import { Cleanups } from '../support/cleanups.js';
import { E2eHost } from '../support/e2e-host.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Plays that span SSH and agent hosts (issue 12): the real server (with its SSH hosts, groups,
 * templates, plays and command fan-out), a real sshd host, and real agents over WebSockets. An
 * agent host's part is ansible-playbook -c local in a shell command the CLI signs; the host runs
 * it only after checking the signature and the capability, and its JSON lines come back into the
 * play's log and counts.
 */

const cleanups = new Cleanups();
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-agent-plays-'));
let t: TestServer;
let root: Ed25519KeyPair;
let sshd: TestSshd;
let agentA: E2eHost;
let agentB: E2eHost;
let outDir: string;
let cliEnv: Record<string, string>;

const WRITE_VARS = `- hosts: mixed
  gather_facts: false
  tasks:
    - name: write the variables
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'site': site, 'slot': slot, 'run': run_id, 'dflt': dflt} | to_json }}"
`;

const FAIL_ON_B = `- hosts: all
  gather_facts: false
  tasks:
    - name: fail on agent-pb
      ansible.builtin.fail:
        msg: "boom on {{ inventory_hostname }}"
      when: inventory_hostname == 'agent-pb'
`;

async function api(method: string, path: string, body?: unknown) {
  return t.api(method, path, body);
}

async function waitPlayEnd(id: string) {
  return waitFor(
    `play ${id} ended`,
    async () => {
      const r = await api('GET', `/api/v1/plays/${id}`);
      return ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(r.body.state) ? r.body : null;
    },
    { timeoutMs: 90_000 },
  );
}

async function runPlaysCli(args: string[]) {
  const io = captureIo({ columns: 200, env: cliEnv, home: dir, cwd: dir });
  const code = await runCli(['plays', 'run', ...args, '--server', t.url, '--token', t.adminToken], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

beforeAll(async () => {
  t = await startTestServer({}, { masterKey: 'e2e-agent-plays-master-key-0123456789' });
  cleanups.add('server', () => t.close());
  root = generateEd25519();
  expect((await api('POST', '/api/v1/roots/init', { did: root.did })).status).toBe(201);
  const token = (await api('POST', '/api/v1/join-tokens', { description: 'agent plays', labels: { suite: 'plays' }, reusable: true })).body.token;
  agentA = await E2eHost.joinAndStart({ token, hostname: 'agent-pa', gpuCount: 1 });
  agentB = await E2eHost.joinAndStart({ token, hostname: 'agent-pb', gpuCount: 1 });
  cleanups.add('agents', () => Promise.all([agentA.dispose(), agentB.dispose()]));
  const clientKey = join(dir, 'client_key');
  makeKey(clientKey);
  sshd = await TestSshd.start(join(dir, 'sshd'), [`${clientKey}.pub`]);
  cleanups.add('sshd', () => sshd.stop());
  const added = await api('POST', '/api/v1/ssh-hosts', {
    hostname: 'ssh-pc',
    address: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    login: { kind: 'key', privateKey: readFileSync(clientKey, 'utf8') },
  });
  expect(added.status, added.text).toBe(201);
  await waitFor('both agents connected', async () => {
    const nodes = (await api('GET', '/api/v1/nodes')).body.items as { hostname: string; status: string }[];
    return ['agent-pa', 'agent-pb'].every((h) => nodes.some((n) => n.hostname === h && n.status === 'READY'));
  });
  expect((await api('POST', '/api/v1/groups', { name: 'mixed', priority: 5, members: ['agent-pa', 'agent-pb', 'ssh-pc'] })).status).toBe(201);
  outDir = join(dir, 'out');
  mkdirSync(outDir);
  for (const body of [
    { scope: 'global', set: { out_dir: outDir, site: 'global', slot: 'global' } },
    { scope: 'group', target: 'mixed', set: { slot: 'group' } },
    { scope: 'node', target: 'agent-pb', set: { slot: 'pb-3' } },
  ]) {
    const r = await api('PUT', '/api/v1/vars', body);
    expect(r.status, r.text).toBe(200);
  }
  for (const [name, playbook] of [
    ['write_vars', WRITE_VARS],
    ['fail_on_b', FAIL_ON_B],
  ] as const) {
    const r = await api('POST', '/api/v1/templates', { name, playbook, vars: { dflt: 'template' } });
    expect(r.status, r.text).toBe(201);
  }
  // The CLI's operator key holds exec/run from the fleet root.
  cliEnv = { XDG_CONFIG_HOME: join(dir, 'xdg') };
  const key = createOperatorKey('ops', { env: cliEnv, home: dir });
  writeFileSync(join(dir, 'ops.cap.json'), JSON.stringify(grant(root, key.did, { can: ['exec/run'] })));
}, 120_000);

afterAll(async () => {
  await cleanups.run();
  rmSync(dir, { recursive: true, force: true });
});

describe('plays on agent hosts and SSH hosts together', { timeout: 180_000 }, () => {
  it('one play spans an SSH host and two agent hosts: the CLI signs the agent parts, each host gets its layered variables, the log and counts cover all three', async () => {
    const r = await runPlaysCli(['write_vars', '-l', 'group=mixed', '-e', 'run_id=r9', '--key', 'ops', '--cap', 'ops.cap.json']);
    expect(r.stderr).toMatch(/signed the part of 2 agent host\(s\)/);
    expect(r.stderr).toMatch(/play play_\w+ SUCCEEDED/);
    expect(r.code).toBe(0);
    for (const h of ['agent-pa', 'agent-pb', 'ssh-pc']) expect(r.stdout).toMatch(new RegExp(`^${h}\\s+1\\s+1\\s+0\\s+0\\s+0\\s+ok$`, 'm'));
    const read = (h: string) => JSON.parse(readFileSync(join(outDir, `${h}.json`), 'utf8'));
    expect(read('agent-pa')).toEqual({ site: 'global', slot: 'group', run: 'r9', dflt: 'template' });
    expect(read('agent-pb')).toEqual({ site: 'global', slot: 'pb-3', run: 'r9', dflt: 'template' });
    expect(read('ssh-pc')).toEqual({ site: 'global', slot: 'group', run: 'r9', dflt: 'template' });

    const play = (await api('GET', '/api/v1/plays?limit=1')).body.items[0];
    expect(play).toMatchObject({ template: 'write_vars', state: 'SUCCEEDED' });
    const events = (await api('GET', `/api/v1/plays/${play.id}/events`)).body.items as { kind: string; host: string | null; status: string | null }[];
    expect(
      events
        .filter((e) => e.kind === 'recap')
        .map((e) => e.host)
        .sort(),
    ).toEqual(['agent-pa', 'agent-pb', 'ssh-pc']);
    expect(events.filter((e) => e.kind === 'host' && e.status === 'changed').map((e) => e.host)).toEqual(
      expect.arrayContaining(['agent-pa', 'agent-pb', 'ssh-pc']),
    );
    // Each agent part was an ordinary signed run, recorded as such.
    const runs = (await api('GET', '/api/v1/runs')).body.items as { selector: string; ability: string; state: string }[];
    expect(runs.filter((x) => x.selector.startsWith('hostname=agent-p')).map((x) => [x.selector, x.ability, x.state])).toEqual(
      expect.arrayContaining([
        ['hostname=agent-pa', 'exec/run', 'succeeded'],
        ['hostname=agent-pb', 'exec/run', 'succeeded'],
      ]),
    );
  });

  it("an agent host whose task fails fails the play by name; the other hosts' results stand", async () => {
    const r = await runPlaysCli(['fail_on_b', '-l', 'group=mixed', '--key', 'ops', '--cap', 'ops.cap.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAILED.*failed on agent host\(s\) agent-pb/);
    expect(r.stdout).toMatch(/^agent-pb\s+0\s+0\s+1\s+0\s+0\s+failed$/m);
    expect(r.stdout).toMatch(/^agent-pa\s+0\s+0\s+0\s+0\s+1\s+ok$/m);
    expect(r.stdout).toMatch(/^ssh-pc\s+0\s+0\s+0\s+0\s+1\s+ok$/m);
    expect(r.stdout).toContain('boom on agent-pb');
  });

  it('a key without a capability is refused by each agent host, which runs nothing; the play fails naming the refusal', async () => {
    const stranger = createOperatorKey('stranger', { env: cliEnv, home: dir });
    expect(stranger.did).not.toBe(root.did);
    rmSync(join(outDir, 'agent-pa.json'), { force: true });
    const r = await runPlaysCli(['write_vars', '-l', 'hostname=agent-pa', '-e', 'run_id=no', '--key', 'stranger']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^agent-pa\s+0\s+0\s+0\s+0\s+0\s+failed$/m);
    expect(r.stdout).toMatch(/agent-pa: refused/);
    expect(existsSync(join(outDir, 'agent-pa.json'))).toBe(false);
  });

  it('--ssh-only leaves the agent hosts out with a note; with only agent hosts and no signed parts the start is refused saying how to sign', async () => {
    const r = await runPlaysCli(['write_vars', '-l', 'group=mixed', '-e', 'run_id=s1', '--ssh-only']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/not run on 2 agent host\(s\), whose parts were not signed/);
    expect(r.stdout).toMatch(/^ssh-pc\s+1\s+1/m);
    expect(r.stdout).not.toMatch(/^agent-pa\s/m);

    const bare = await api('POST', '/api/v1/plays', { template: 'write_vars', selector: 'hostname=agent-pa' });
    expect(bare.status).toBe(412);
    expect(bare.text).toMatch(/picks only agent hosts \(agent-pa\).*--key/);
  });

  it('signed parts that are not exactly the play are refused before anything runs: another script, another host, one missing, one twice, garbage', async () => {
    const req = { template: 'write_vars', selector: 'group=mixed', extraVars: { run_id: 'tamper' } };
    const plan = (await api('POST', '/api/v1/plays/plan', req)).body as PlayPlanView;
    expect(plan.ssh.map((h) => h.hostname)).toEqual(['ssh-pc']);
    expect(plan.agents.map((h) => [h.hostname, h.target])).toEqual([
      ['agent-pa', 'hostname=agent-pa'],
      ['agent-pb', 'hostname=agent-pb'],
    ]);
    expect(plan.agents[1]!.vars).toMatchObject({ slot: 'pb-3', run_id: 'tamper' });
    const before = (await api('GET', '/api/v1/plays')).body.items.length;
    const sign = (p: PlayPlanView) => signAgentParts(p, root, null, Date.now());

    const otherVars = sign({ ...plan, extraVars: { run_id: 'evil' } });
    const cases: [unknown, number, RegExp][] = [
      [otherVars, 412, /signed script for agent-pa is not this play's/],
      [sign({ ...plan, agents: [plan.agents[0]!, { ...plan.agents[1]!, target: 'hostname=elsewhere' }] }), 400, /target 'hostname=elsewhere' is no agent host/],
      [sign({ ...plan, agents: [plan.agents[0]!] }), 400, /no signed part for 1 agent host\(s\).*agent-pb/],
      [sign({ ...plan, agents: [plan.agents[0]!, plan.agents[0]!] }), 412, /agent-pa has two signed parts/],
      [[{ payload: { v: 2 }, sig: 'x' }], 400, /agentCommands/],
      ['not a list', 400, /agentCommands/],
    ];
    for (const [agentCommands, status, message] of cases) {
      const res = await api('POST', '/api/v1/plays', { ...req, agentCommands });
      expect(res.status, res.text).toBe(status);
      expect(res.text).toMatch(message);
    }
    expect((await api('GET', '/api/v1/plays')).body.items.length).toBe(before);
    // The untouched parts start it.
    const ok = await api('POST', '/api/v1/plays', { ...req, agentCommands: sign(plan) });
    expect(ok.status, ok.text).toBe(201);
    expect((await waitPlayEnd(ok.body.id)).state).toBe('SUCCEEDED');
  });
});
