// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { fakeError } from '../../testing/fake-api.js';
import { FakeJobCenterApi } from '../../testing/fake-job-center-api.js';
import { FINGERPRINT_A, FINGERPRINT_B, SSH_NODE_A, SSH_NODE_B, sshHostFixture } from '../../testing/job-center-fixture.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { SshHostsPage } from '../ssh-hosts.js';
import { AddSshHostPage } from '../ssh-host-add.js';

/*
 * The SSH hosts list (contact state, pinned and refused host keys, Trust new key, Collect facts)
 * and the Add node wizard (details, the host key to confirm, the add with that key and the facts
 * preview) against a fake of the job center's routes with the server's view shapes.
 */

const admin = { token: `gft_0123456789abcdef_${'a'.repeat(43)}`, name: 'root', role: 'admin' as const };
const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'ops', role: 'operator' as const };
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };
const PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-the-secret\n-----END OPENSSH PRIVATE KEY-----\n';

let net: FakeJobCenterApi;
beforeEach(() => {
  window.history.replaceState(null, '', '/ssh-hosts');
  net = new FakeJobCenterApi();
  vi.stubGlobal('fetch', net.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

function addTwoHosts() {
  net.hosts.set(SSH_NODE_A, sshHostFixture(SSH_NODE_A, 'gpu-08', { bastion: 'jump@10.0.0.1:22' }));
  net.hosts.set(
    SSH_NODE_B,
    sshHostFixture(SSH_NODE_B, 'gpu-07', {
      address: '10.0.0.9',
      port: 2222,
      reachable: false,
      lastError: 'host key changed: refused',
      refusedHostKey: { algorithm: 'ssh-ed25519', fingerprint: FINGERPRINT_B, seenAt: '2026-12-05T10:06:00.000Z' },
    }),
  );
}

describe('SSH hosts list', () => {
  it('lists each host by hostname with address, user, bastion, host key and contact; a viewer gets no action', async () => {
    addTwoHosts();
    renderSignedIn(<SshHostsPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('ssh-host-row').length).toBe(2));
    const rows = screen.getAllByTestId('ssh-host-row');
    expect(rows.map((r) => [r.dataset.hostname, r.dataset.reachable, r.dataset.refused])).toEqual([
      ['gpu-07', 'false', 'yes'],
      ['gpu-08', 'true', 'no'],
    ]);
    expect(within(rows[0]!).getByText('gpu-07').getAttribute('href')).toBe(`/nodes/${encodeURIComponent(SSH_NODE_B)}`);
    expect(rows[0]!.textContent).toContain('10.0.0.9:2222');
    expect(within(rows[0]!).getByTestId('ssh-last-error').textContent).toBe('host key changed: refused');
    expect(within(rows[0]!).getByTestId('ssh-refused-key').textContent).toContain(FINGERPRINT_B.slice(0, 19));
    expect(rows[1]!.textContent).toContain('jump@10.0.0.1:22');
    expect(rows[1]!.textContent).toContain(FINGERPRINT_A.slice(0, 19));
    expect(screen.queryByTestId('ssh-trust')).toBeNull();
    expect(screen.queryByTestId('ssh-collect')).toBeNull();
    expect(screen.queryByTestId('ssh-add')).toBeNull();
    expect(screen.getByTestId('cli-hint').textContent).toBe('gpufleet ssh-hosts ls');
  });

  it('an admin trusts a refused key after seeing both fingerprints and giving a reason', async () => {
    addTwoHosts();
    renderSignedIn(<SshHostsPage />, admin);
    fireEvent.click(await screen.findByTestId('ssh-trust'));
    expect(screen.getAllByTestId('ssh-trust').length).toBe(1);
    const dialog = await screen.findByTestId('confirm-dialog');
    expect(within(dialog).getByTestId('trust-old-key').textContent).toBe(FINGERPRINT_A);
    expect(within(dialog).getByTestId('trust-new-key').textContent).toContain(FINGERPRINT_B);
    expect((screen.getByTestId('confirm-ok') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByTestId('confirm-reason'), { target: { value: 'reinstalled the OS' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(screen.queryByTestId('ssh-trust')).toBeNull());
    expect(net.api.callsTo('POST', '/api/v1/ssh-hosts/').map((c) => [c.path, c.body])).toEqual([
      [`/api/v1/ssh-hosts/${encodeURIComponent(SSH_NODE_B)}/trust-host-key`, { fingerprint: FINGERPRINT_B, reason: 'reinstalled the OS' }],
    ]);
    expect(screen.getByTestId('ssh-add').getAttribute('href')).toBe('/ssh-hosts/add');
  });

  it('cancelling the trust dialog sends nothing', async () => {
    addTwoHosts();
    renderSignedIn(<SshHostsPage />, admin);
    fireEvent.click(await screen.findByTestId('ssh-trust'));
    fireEvent.click(await screen.findByTestId('confirm-cancel'));
    await waitFor(() => expect(screen.queryByTestId('confirm-dialog')).toBeNull());
    expect(net.api.callsTo('POST', '/api/v1/ssh-hosts/')).toEqual([]);
  });

  it('an operator collects facts (and cannot trust keys); a refusal is shown', async () => {
    addTwoHosts();
    renderSignedIn(<SshHostsPage />, operator);
    await waitFor(() => expect(screen.getAllByTestId('ssh-collect').length).toBe(2));
    expect(screen.queryByTestId('ssh-trust')).toBeNull();
    fireEvent.click(screen.getAllByTestId('ssh-collect')[1]!);
    await waitFor(() => expect(net.api.callsTo('POST', `/api/v1/ssh-hosts/${encodeURIComponent(SSH_NODE_A)}/collect-facts`).length).toBe(1));
    net.refuse('POST /api/v1/ssh-hosts/:node/collect-facts', fakeError(503, 'unavailable', 'gpu-07 is unreachable: connect ECONNREFUSED'));
    fireEvent.click(screen.getAllByTestId('ssh-collect')[0]!);
    expect((await screen.findByTestId('ssh-action-error')).textContent).toBe('gpu-07 is unreachable: connect ECONNREFUSED');
  });
});

/** Fills step 1 with a key file and goes to the probe. */
async function fillDetails(over: { port?: string; key?: string | null; labels?: string } = {}) {
  fireEvent.change(await screen.findByTestId('ssh-hostname'), { target: { value: 'gpu-09' } });
  fireEvent.change(screen.getByTestId('ssh-address'), { target: { value: '10.0.0.9' } });
  fireEvent.change(screen.getByTestId('ssh-port'), { target: { value: over.port ?? '2222' } });
  fireEvent.change(screen.getByTestId('ssh-user'), { target: { value: 'ubuntu' } });
  if (over.labels !== undefined) fireEvent.change(screen.getByTestId('ssh-labels'), { target: { value: over.labels } });
  if (over.key !== null) {
    const file = new File([over.key ?? PRIVATE_KEY], 'id_ed25519');
    fireEvent.change(screen.getByTestId('ssh-key'), { target: { files: [file] } });
    await screen.findByText('read: id_ed25519');
  }
  fireEvent.click(screen.getByTestId('ssh-probe'));
}

describe('Add node wizard', () => {
  it('probes, shows the fingerprint to check on the host, adds with that key pinned and previews the facts', async () => {
    const { queryClient } = renderSignedIn(<AddSshHostPage />, admin);
    await fillDetails({ labels: 'rack=r1' });
    expect((await screen.findByTestId('ssh-fingerprint')).textContent).toBe(FINGERPRINT_A);
    expect(screen.getByTestId('ssh-keygen-command').textContent).toBe('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    expect(net.api.callsTo('POST', '/api/v1/ssh-hosts/probe').map((c) => c.body)).toEqual([{ address: '10.0.0.9', port: 2222 }]);
    // Nothing is added before the admin says the key matches.
    const add = screen.getByTestId('ssh-add-confirm') as HTMLButtonElement;
    expect(add.disabled).toBe(true);
    fireEvent.click(screen.getByTestId('ssh-fingerprint-matches'));
    fireEvent.click(add);
    expect((await screen.findByTestId('ssh-added')).textContent).toBe('Added gpu-09');
    expect(
      net.api
        .callsTo('POST', '/api/v1/ssh-hosts')
        .filter((c) => c.path === '/api/v1/ssh-hosts')
        .map((c) => c.body),
    ).toEqual([
      {
        hostname: 'gpu-09',
        address: '10.0.0.9',
        port: 2222,
        user: 'ubuntu',
        login: { kind: 'key', privateKey: PRIVATE_KEY },
        labels: { rack: 'r1' },
        hostKey: FINGERPRINT_A,
      },
    ]);
    expect((await screen.findByTestId('ssh-add-gpus')).textContent).toBe('2 × NVIDIA H100 80GB HBM3');
    expect(screen.getByTestId('ssh-add-os').textContent).toContain('Debian GNU/Linux 12');
    expect(screen.getByTestId('ssh-add-memory').textContent).not.toBe('');
    // The key was sent, never shown, and not kept with the finished requests either.
    expect(document.body.textContent).not.toContain('the-secret');
    const kept = queryClient.getMutationCache().getAll();
    expect(kept.length).toBe(2);
    for (const m of kept) expect(JSON.stringify(m.state.variables) ?? '').not.toContain('the-secret');
    expect(screen.getByTestId('ssh-add-cli').textContent).toBe(
      `gpufleet nodes add gpu-09 --ssh ubuntu@10.0.0.9:2222 --key KEY_FILE -L rack=r1 --host-key ${FINGERPRINT_A}`,
    );
  });

  it('refuses garbage before anything is sent: a bad port, no key file, bad labels', async () => {
    renderSignedIn(<AddSshHostPage />, admin);
    await fillDetails({ port: '22x', key: null, labels: 'no-equals' });
    expect(screen.getByTestId('ssh-port-error').textContent).toBe('Port: "22x" is not a port number (1-65535)');
    expect(screen.getByTestId('ssh-key-error').textContent).toBe('Key file: pick the private key file');
    expect(screen.getByTestId('ssh-labels-error').textContent).toContain("'no-equals' is not key=value");
    fireEvent.change(screen.getByTestId('ssh-port'), { target: { value: '70000' } });
    fireEvent.click(screen.getByTestId('ssh-probe'));
    expect(screen.getByTestId('ssh-port-error').textContent).toBe('Port: 70000 is outside 1-65535');
    expect(net.api.calls.filter((c) => c.method === 'POST')).toEqual([]);
  });

  it('an empty key file is refused by name', async () => {
    renderSignedIn(<AddSshHostPage />, admin);
    await fillDetails({ key: '  \n' });
    expect(screen.getByTestId('ssh-key-error').textContent).toBe('Key file: id_ed25519 is empty');
    expect(net.api.calls.filter((c) => c.method === 'POST')).toEqual([]);
  });

  it("shows the server's refusal of the probe and stays on the details", async () => {
    net.refuse('POST /api/v1/ssh-hosts/probe', fakeError(503, 'unavailable', '10.0.0.9:2222 is unreachable: connect ECONNREFUSED'));
    renderSignedIn(<AddSshHostPage />, admin);
    await fillDetails();
    expect((await screen.findByTestId('ssh-probe-error')).textContent).toBe('10.0.0.9:2222 is unreachable: connect ECONNREFUSED');
    expect(screen.queryByTestId('ssh-fingerprint')).toBeNull();
  });

  it('a refused add is shown; the key is dropped with the request, so a retry asks for the file again', async () => {
    renderSignedIn(<AddSshHostPage />, admin);
    await fillDetails();
    await screen.findByTestId('ssh-fingerprint');
    net.probeKey = { algorithm: 'ssh-ed25519', fingerprint: FINGERPRINT_B };
    fireEvent.click(screen.getByTestId('ssh-fingerprint-matches'));
    fireEvent.click(screen.getByTestId('ssh-add-confirm'));
    const error = await screen.findByTestId('ssh-add-error');
    expect(error.textContent).toContain(`host key mismatch: the host presents ${FINGERPRINT_B}`);
    expect(error.textContent).toContain('pick the key file again');
    fireEvent.click(screen.getByTestId('ssh-add-confirm'));
    expect((await screen.findByTestId('ssh-key-error')).textContent).toBe('Key file: pick the private key file');
    expect(net.api.calls.filter((c) => c.path === '/api/v1/ssh-hosts').length).toBe(1);
  });

  it('a bastion is sent with its own login; a malformed one is refused', async () => {
    renderSignedIn(<AddSshHostPage />, admin);
    fireEvent.change(await screen.findByTestId('ssh-bastion'), { target: { value: 'jump-host' } });
    await fillDetails();
    expect(screen.getByTestId('ssh-bastion-error').textContent).toBe('Bastion: write it as user@host or user@host:port');
    expect(screen.getByTestId('ssh-bastion-key-error').textContent).toContain('Bastion key file');
    fireEvent.change(screen.getByTestId('ssh-bastion'), { target: { value: 'jump@10.0.0.1:2200' } });
    fireEvent.change(screen.getByTestId('ssh-bastion-key'), { target: { files: [new File(['BASTION KEY'], 'jump_key')] } });
    await screen.findByText('read: jump_key');
    fireEvent.click(screen.getByTestId('ssh-probe'));
    await screen.findByTestId('ssh-fingerprint');
    expect(net.api.callsTo('POST', '/api/v1/ssh-hosts/probe').map((c) => c.body)).toEqual([
      { address: '10.0.0.9', port: 2222, bastion: { address: '10.0.0.1', port: 2200, user: 'jump', login: { kind: 'key', privateKey: 'BASTION KEY' } } },
    ]);
  });

  it('is for admins only', async () => {
    renderSignedIn(<AddSshHostPage />, operator);
    expect((await screen.findByText(/for admins/)).textContent).toContain('Adding nodes over SSH is for admins');
    expect(screen.queryByTestId('ssh-hostname')).toBeNull();
  });
});
