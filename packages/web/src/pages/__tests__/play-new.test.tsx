// @vitest-environment jsdom
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { localPlayScript, verifySignedCommand, type Capability, type PlayPlanView, type SignedCommand } from '@gpufleet/protocol';
import { fakeError } from '../../testing/fake-api.js';
import { FakeJobCenterApi } from '../../testing/fake-job-center-api.js';
import { templateFixture } from '../../testing/job-center-fixture.js';
import { renderWithSigner } from '../../testing/render-with-signer.js';
import { testSigner } from '../../testing/fake-run-network.js';
import type { RevocableSigner } from '../../lib/signing/browser-signer.js';
import { NewPlayPage } from '../play-new.js';

/*
 * The play run form: garbage refused before sending; then the plan (POST /plays/plan) says who
 * the play runs on, SSH hosts and agent hosts; each agent host's part is signed in the tab with
 * the unlocked key (the script the server renders, targeted at that host alone), or, with no key,
 * the play starts on the SSH hosts only, saying which agent hosts are left out.
 */

const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'ops', role: 'operator' as const };
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A host the fake plan picks: reached over SSH, or through its agent with its groups, variables and notes. */
interface FleetHost {
  nodeId: string;
  hostname: string;
  mode: 'ssh' | 'agent';
  groups?: string[];
  vars?: Record<string, unknown>;
  notes?: string[];
}

const SSH_A: FleetHost = { nodeId: 'did:key:z6MkSshA', hostname: 'ssh-01', mode: 'ssh' };
const SSH_B: FleetHost = { nodeId: 'did:key:z6MkSshB', hostname: 'ssh-02', mode: 'ssh' };
const AGENT_7: FleetHost = { nodeId: 'did:key:z6MkGpu7', hostname: 'gpu-07', mode: 'agent', groups: ['gpu_nodes'], vars: { zone: 'b' } };
const AGENT_8: FleetHost = {
  nodeId: 'did:key:z6MkGpu8',
  hostname: 'gpu-08',
  mode: 'agent',
  groups: ['gpu_nodes'],
  vars: { zone: 'c' },
  notes: ["gpu-08: variable ansible_host (from node) is ignored: an agent host's part runs on the host itself"],
};

let net: FakeJobCenterApi;
let fleet: FleetHost[];

/** POST /plays/plan as the server answers it: the template's parts and each picked host, split by how it is reached. */
function servePlans(): void {
  net.api.on('POST', '/api/v1/plays/plan', (call) => {
    const b = call.body as { template: string; selector: string; check: boolean; extraVars?: Record<string, unknown> };
    const t = net.templates.get(b.template);
    if (!t) return fakeError(404, 'not_found', `no template ${b.template}`);
    if (b.selector.includes('!!')) return fakeError(400, 'invalid_argument', `selector: cannot parse '${b.selector}'`);
    if (fleet.length === 0) return fakeError(412, 'failed_precondition', `selector '${b.selector}' picks no host`);
    const plan: PlayPlanView = {
      template: { name: t.name, version: t.version, sha256: t.sha256, playbook: t.playbook, become: t.become, vars: t.vars },
      ssh: fleet.filter((h) => h.mode === 'ssh').map((h) => ({ nodeId: h.nodeId, hostname: h.hostname })),
      agents: fleet
        .filter((h) => h.mode === 'agent')
        .map((h) => ({
          nodeId: h.nodeId,
          hostname: h.hostname,
          target: `hostname=${h.hostname}`,
          groups: h.groups ?? [],
          vars: h.vars ?? {},
          notes: h.notes ?? [],
        })),
      extraVars: b.extraVars ?? {},
      check: b.check,
      timeoutMs: t.timeoutMs,
    };
    return { status: 200, body: plan };
  });
}

beforeEach(() => {
  window.history.replaceState(null, '', '/plays/new');
  net = new FakeJobCenterApi();
  vi.stubGlobal('fetch', net.fetch);
  vi.stubGlobal('EventSource', net.EventSource);
  const connectivity = templateFixture('connectivity_check');
  net.templates.set('connectivity_check', { ...connectivity, sha256: sha256(connectivity.playbook) });
  const driver = templateFixture('install_nvidia_driver', {
    category: 'driver',
    become: true,
    builtin: true,
    vars: { nvidia_driver_version: 550 },
    version: 2,
    versions: [1, 2],
  });
  net.templates.set('install_nvidia_driver', { ...driver, sha256: sha256(driver.playbook) });
  fleet = [SSH_A, SSH_B];
  servePlans();
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const plans = () => net.api.callsTo('POST', '/api/v1/plays/plan');
const starts = () => net.api.callsTo('POST', '/api/v1/plays').filter((c) => c.path === '/api/v1/plays');

function renderForm(signer: RevocableSigner | null = null) {
  renderWithSigner(<NewPlayPage />, { session: operator, signer });
}

/** Picks the driver template on group=gpu_nodes and asks for the plan. */
async function planDriverPlay(): Promise<HTMLElement> {
  fireEvent.change(await screen.findByTestId('play-template'), { target: { value: 'install_nvidia_driver' } });
  fireEvent.change(screen.getByTestId('play-selector'), { target: { value: 'group=gpu_nodes' } });
  fireEvent.change(screen.getByTestId('play-extra-vars'), { target: { value: 'install_cuda=false' } });
  fireEvent.click(screen.getByTestId('play-start'));
  return screen.findByTestId('play-plan');
}

describe('Run form', () => {
  it('refuses a bad serial, max fail % and extra vars before sending', async () => {
    window.history.replaceState(null, '', '/plays/new?template=connectivity_check');
    renderForm();
    await waitFor(() => expect((screen.getByTestId('play-template') as HTMLSelectElement).value).toBe('connectivity_check'));
    fireEvent.change(screen.getByTestId('play-serial'), { target: { value: '0' } });
    fireEvent.change(screen.getByTestId('play-max-fail'), { target: { value: '150' } });
    fireEvent.change(screen.getByTestId('play-extra-vars'), { target: { value: 'nope' } });
    fireEvent.click(screen.getByTestId('play-start'));
    expect(screen.getByTestId('play-selector-error').textContent).toContain('Selector: which hosts');
    expect(screen.getByTestId('play-serial-error').textContent).toBe('Serial: a number of hosts (5) or a share of them (25%)');
    expect(screen.getByTestId('play-max-fail-error').textContent).toBe('Max fail %: a whole number from 0 to 100');
    expect(screen.getByTestId('play-extra-vars-error').textContent).toBe('Extra vars: "nope" is not name=value');
    expect(plans()).toEqual([]);
    expect(starts()).toEqual([]);
  });

  it("shows the server's refusal of a bad selector, and starts nothing", async () => {
    window.history.replaceState(null, '', '/plays/new?template=connectivity_check');
    renderForm();
    fireEvent.change(await screen.findByTestId('play-selector'), { target: { value: 'group=!!' } });
    fireEvent.click(screen.getByTestId('play-start'));
    expect((await screen.findByTestId('play-start-error')).textContent).toBe("selector: cannot parse 'group=!!'");
    expect(screen.queryByTestId('play-plan')).toBeNull();
    expect(starts()).toEqual([]);
  });

  it('shows who an SSH-only play runs on, then starts it with serial, max fail %, extra vars and check mode, and opens its page', async () => {
    renderForm();
    fireEvent.change(await screen.findByTestId('play-template'), { target: { value: 'install_nvidia_driver' } });
    fireEvent.change(screen.getByTestId('play-selector'), { target: { value: 'group=gpu_nodes' } });
    fireEvent.change(screen.getByTestId('play-serial'), { target: { value: '25%' } });
    fireEvent.change(screen.getByTestId('play-max-fail'), { target: { value: '10' } });
    fireEvent.change(screen.getByTestId('play-extra-vars'), { target: { value: 'install_cuda=false\nnvidia_driver_version="550"' } });
    fireEvent.click(screen.getByTestId('play-check'));
    expect(screen.getByTestId('play-cli').textContent).toBe(
      `gpufleet plays run install_nvidia_driver -l group=gpu_nodes --serial 25% --max-fail 10 -e install_cuda=false -e 'nvidia_driver_version="550"' --check`,
    );
    fireEvent.click(screen.getByTestId('play-start'));
    const plan = await screen.findByTestId('play-plan');
    expect(plan.dataset).toMatchObject({ ssh: '2', agents: '0' });
    expect(screen.getByTestId('play-plan-summary').textContent).toBe('install_nvidia_driver v2 in check mode runs on 2 SSH hosts and 0 agent hosts.');
    expect(screen.getByTestId('play-plan-ssh').textContent).toBe('ssh-01, ssh-02');
    expect(screen.getByTestId('play-plan-agents').textContent).toBe('none');
    expect(starts()).toEqual([]);
    expect(screen.queryByTestId('play-need-key')).toBeNull();
    expect(screen.queryByTestId('play-ssh-only')).toBeNull();
    expect(screen.getByTestId('play-confirm').textContent).toBe('Start check run');
    fireEvent.click(screen.getByTestId('play-confirm'));
    await waitFor(() => expect(window.location.pathname).toBe('/plays/play_1'));
    const body = {
      template: 'install_nvidia_driver',
      selector: 'group=gpu_nodes',
      check: true,
      serial: '25%',
      maxFailPercentage: 10,
      extraVars: { install_cuda: false, nvidia_driver_version: '550' },
    };
    expect(plans().map((c) => c.body)).toEqual([body]);
    expect(starts().map((c) => c.body)).toEqual([body]);
  });

  it('a plan is shown only while the form says what was planned', async () => {
    renderForm();
    await planDriverPlay();
    fireEvent.change(screen.getByTestId('play-selector'), { target: { value: 'group=other' } });
    expect(screen.queryByTestId('play-plan')).toBeNull();
    expect(screen.queryByTestId('play-confirm')).toBeNull();
    fireEvent.change(screen.getByTestId('play-selector'), { target: { value: 'group=gpu_nodes' } });
    expect(screen.getByTestId('play-plan')).toBeTruthy();
  });

  it('is for operators', async () => {
    renderWithSigner(<NewPlayPage />, { session: viewer });
    expect((await screen.findByText(/for operators/)).textContent).toContain('Running playbooks is for operators and admins');
  });
});

describe('Agent hosts of a play', () => {
  it("with a key unlocked: shows the plan and its notes, signs each agent host's part, and sends them with the start", async () => {
    fleet = [SSH_A, AGENT_7, AGENT_8];
    const held = await testSigner();
    renderForm(held);
    const plan = await planDriverPlay();
    expect(plan.dataset).toMatchObject({ ssh: '1', agents: '2' });
    expect(screen.getByTestId('play-plan-summary').textContent).toBe('install_nvidia_driver v2 runs on 1 SSH host and 2 agent hosts.');
    expect(screen.getByTestId('play-plan-agents').textContent).toBe('gpu-07, gpu-08');
    expect(screen.getAllByTestId('play-plan-note').map((n) => n.textContent)).toEqual(AGENT_8.notes);
    expect(screen.getByTestId('play-signed-by').textContent).toBe(`ops-laptop · ${held.signer.did}`);
    expect(screen.getAllByTestId('play-part').map((p) => [p.dataset.hostname, p.dataset.target])).toEqual([
      ['gpu-07', 'hostname=gpu-07'],
      ['gpu-08', 'hostname=gpu-08'],
    ]);
    expect(screen.queryByTestId('play-need-key')).toBeNull();
    expect(screen.queryByTestId('play-blockers')).toBeNull();
    expect(screen.getByTestId('play-cli').textContent).toContain('--key ops-laptop');
    // Opening a part shows its exact payload.
    const part = screen.getAllByTestId('play-part')[0]!;
    const details = part.querySelector('details')!;
    details.open = true;
    fireEvent(details, new Event('toggle'));
    expect(JSON.parse(within(part).getByText(/"runId"/).textContent!)).toMatchObject({ target: 'hostname=gpu-07', ability: 'exec/run' });
    expect(starts()).toEqual([]);

    const confirm = screen.getByTestId('play-confirm');
    expect(confirm.textContent).toBe('Sign 2 parts and start play');
    fireEvent.click(confirm);
    await waitFor(() => expect(window.location.pathname).toBe('/plays/play_1'));
    const [start] = starts();
    const body = start!.body as { agentCommands: SignedCommand[] } & Record<string, unknown>;
    expect(body).toMatchObject({ template: 'install_nvidia_driver', selector: 'group=gpu_nodes', check: false, extraVars: { install_cuda: false } });
    const driver = net.templates.get('install_nvidia_driver')!;
    expect(body.agentCommands.map((c) => c.payload.target)).toEqual(['hostname=gpu-07', 'hostname=gpu-08']);
    for (const [i, host] of [AGENT_7, AGENT_8].entries()) {
      const signed = body.agentCommands[i]!;
      expect(signed.payload).toMatchObject({ ability: 'exec/run', invoker: held.signer.did, timeoutMs: driver.timeoutMs, capability: null });
      expect(signed.payload.command).toEqual({
        kind: 'shell',
        script: localPlayScript({
          template: { name: driver.name, version: driver.version, sha256: driver.sha256, playbook: driver.playbook, become: true },
          hostname: host.hostname,
          groups: host.groups!,
          defaults: driver.vars,
          vars: host.vars!,
          extraVars: { install_cuda: false },
          check: false,
        }),
      });
      const ctx = { roots: [held.signer.did], now: Date.now(), isRevoked: () => false, hostLabels: { hostname: host.hostname }, seenNonce: () => false };
      expect(verifySignedCommand(signed, ctx)).toEqual({ ok: true });
    }
  });

  it('without a key: offers unlocking it, says which agent hosts "SSH hosts only" leaves out, and that start sends no parts', async () => {
    fleet = [SSH_A, AGENT_7, AGENT_8];
    renderForm();
    await planDriverPlay();
    const need = screen.getByTestId('play-need-key');
    expect(need.textContent).toContain("No key is unlocked in this tab, and the 2 agent hosts' parts must be signed with your operator key.");
    expect(within(need).getByText('Unlock your operator key').getAttribute('href')).toBe('/keys');
    expect(screen.getByTestId('play-ssh-only-note').textContent).toBe(
      'Starting on the SSH hosts only leaves out the 2 agent hosts (gpu-07, gpu-08): they run nothing.',
    );
    expect(screen.queryByTestId('play-confirm')).toBeNull();
    expect(screen.queryByTestId('play-parts')).toBeNull();
    fireEvent.click(screen.getByTestId('play-ssh-only'));
    await waitFor(() => expect(window.location.pathname).toBe('/plays/play_1'));
    expect(starts().map((c) => c.body)).toEqual([
      { template: 'install_nvidia_driver', selector: 'group=gpu_nodes', check: false, extraVars: { install_cuda: false } },
    ]);
  });

  it('only agent hosts and no key: only signing is offered, nothing can start', async () => {
    fleet = [AGENT_7];
    renderForm();
    await planDriverPlay();
    expect(screen.getByTestId('play-need-key').textContent).toContain('The selector picks only agent hosts, so nothing can start without it.');
    expect(screen.queryByTestId('play-ssh-only')).toBeNull();
    expect(screen.queryByTestId('play-ssh-only-note')).toBeNull();
    expect(screen.queryByTestId('play-confirm')).toBeNull();
    expect(starts()).toEqual([]);
  });

  it('a playbook that does not hash to its recorded SHA-256 is refused before anything is shown for signing', async () => {
    fleet = [SSH_A, AGENT_7];
    net.templates.set('install_nvidia_driver', { ...net.templates.get('install_nvidia_driver')!, sha256: 'a'.repeat(64) });
    renderForm(await testSigner());
    fireEvent.change(await screen.findByTestId('play-template'), { target: { value: 'install_nvidia_driver' } });
    fireEvent.change(screen.getByTestId('play-selector'), { target: { value: 'group=gpu_nodes' } });
    fireEvent.click(screen.getByTestId('play-start'));
    expect((await screen.findByTestId('play-start-error')).textContent).toMatch(
      /^the server's playbook for install_nvidia_driver@2 hashes to [0-9a-f]{12}…, not aaaaaaaaaaaa… as recorded: nothing signed$/,
    );
    expect(screen.queryByTestId('play-plan')).toBeNull();
    expect(starts()).toEqual([]);
  });

  it('a capability without exec/run is named, and the parts cannot be signed; the SSH hosts can still start', async () => {
    fleet = [SSH_A, AGENT_7];
    const now = Date.now();
    const cap = {
      v: 1,
      iss: 'did:key:zRoot',
      aud: 'did:key:zOps',
      can: ['workload/run'],
      on: '*',
      nbf: now - 1000,
      exp: now + 3_600_000,
      nonce: 'n',
      prf: [],
      sig: 's',
    };
    const held = (await testSigner()).withCapability!(cap as unknown as Capability);
    renderForm(held);
    await planDriverPlay();
    expect(screen.getByTestId('play-blockers').textContent).toContain('your capability grants workload/run, not exec/run');
    expect((screen.getByTestId('play-confirm') as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByTestId('play-ssh-only') as HTMLButtonElement).disabled).toBe(false);
    expect(screen.getByTestId('play-cli').textContent).toContain('--key ops-laptop --cap cap.json');
  });

  it('a refused start is shown as the form shows errors, and a retry signs fresh run ids', async () => {
    fleet = [AGENT_7];
    net.refuse('POST /api/v1/plays', fakeError(412, 'failed_precondition', "agentCommands[0]: the signed script for gpu-07 is not this play's"));
    renderForm(await testSigner());
    await planDriverPlay();
    fireEvent.click(screen.getByTestId('play-confirm'));
    expect((await screen.findByTestId('play-start-error')).textContent).toBe("agentCommands[0]: the signed script for gpu-07 is not this play's");
    await waitFor(() => expect((screen.getByTestId('play-confirm') as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(screen.getByTestId('play-confirm'));
    await waitFor(() => expect(starts().length).toBe(2));
    const [a, b] = starts().map((c) => (c.body as { agentCommands: SignedCommand[] }).agentCommands[0]!.payload);
    expect(a!.runId).not.toBe(b!.runId);
    expect(a!.nonce).not.toBe(b!.nonce);
    expect(window.location.pathname).toBe('/plays/new');
  });
});
