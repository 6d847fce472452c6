// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { fakeError } from '../../testing/fake-api.js';
import { FakeJobCenterApi } from '../../testing/fake-job-center-api.js';
import { groupFixture, SSH_NODE_A, SSH_NODE_B } from '../../testing/job-center-fixture.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { GroupsPage } from '../groups.js';
import { GroupDetailPage } from '../group-detail.js';
import { NodeVarsPage } from '../node-vars.js';

/*
 * Groups and variables: the list, creating a group, the global variables, a group's page
 * (members, settings, its variables, delete) and a node's merged variables with their origin,
 * against a fake of the groups and vars routes with the server's view shapes.
 */

const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'ops', role: 'operator' as const };
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };

let net: FakeJobCenterApi;
beforeEach(() => {
  window.history.replaceState(null, '', '/groups');
  net = new FakeJobCenterApi();
  vi.stubGlobal('fetch', net.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

function addGroups() {
  net.groups.set(
    'gpu_nodes',
    groupFixture('gpu_nodes', {
      priority: 10,
      selector: 'gpu.vendor=nvidia',
      members: [SSH_NODE_B],
      nodes: [
        { id: SSH_NODE_A, hostname: 'gpu-08' },
        { id: SSH_NODE_B, hostname: 'gpu-07' },
      ],
      vars: { nvidia_driver_version: 550, install_cuda: false },
    }),
  );
  net.groups.set('all_lab', groupFixture('all_lab', { description: 'the whole lab' }));
}

describe('Groups list', () => {
  it('lists groups by priority with selector, member count and variable names; a viewer cannot create or edit', async () => {
    addGroups();
    net.vars.set('global/', { ntp_server: 'pool.ntp.org' });
    renderSignedIn(<GroupsPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('group-row').length).toBe(2));
    const cells = (r: HTMLElement) => [...r.querySelectorAll('td')].map((td) => td.textContent);
    const rows = screen.getAllByTestId('group-row');
    expect(cells(rows[0]!)).toEqual(['gpu_nodes', '10', 'gpu.vendor=nvidia', '2', 'install_cuda, nvidia_driver_version']);
    expect(cells(rows[1]!)).toEqual(['all_labthe whole lab', '0', '—', '0', '—']);
    expect(within(rows[0]!).getByText('gpu_nodes').getAttribute('href')).toBe('/groups/gpu_nodes');
    const globals = await screen.findByTestId('global-vars');
    expect(within(globals).getByTestId('var-value').textContent).toBe('pool.ntp.org');
    expect(screen.queryByTestId('group-create')).toBeNull();
    expect(screen.queryByTestId('var-remove')).toBeNull();
    expect(screen.queryByTestId('global-vars-set')).toBeNull();
  });

  it('an operator creates a group and lands on its page', async () => {
    renderSignedIn(<GroupsPage />, operator);
    fireEvent.change(await screen.findByTestId('group-name'), { target: { value: 'gpu_nodes' } });
    fireEvent.change(screen.getByTestId('group-priority'), { target: { value: '10' } });
    fireEvent.change(screen.getByTestId('group-selector'), { target: { value: 'gpu.vendor=nvidia' } });
    fireEvent.change(screen.getByTestId('group-members'), { target: { value: 'gpu-07, gpu-08' } });
    expect(screen.getByTestId('group-create-cli').textContent).toBe(
      'gpufleet groups create gpu_nodes --priority 10 -l gpu.vendor=nvidia --member gpu-07 --member gpu-08',
    );
    fireEvent.click(screen.getByTestId('group-create'));
    await waitFor(() => expect(window.location.pathname).toBe('/groups/gpu_nodes'));
    expect(net.api.callsTo('POST', '/api/v1/groups').map((c) => c.body)).toEqual([
      { name: 'gpu_nodes', priority: 10, selector: 'gpu.vendor=nvidia', members: ['gpu-07', 'gpu-08'] },
    ]);
  });

  it('refuses a bad priority before sending, and shows the server refusing a bad selector', async () => {
    renderSignedIn(<GroupsPage />, operator);
    fireEvent.change(await screen.findByTestId('group-name'), { target: { value: 'g' } });
    fireEvent.change(screen.getByTestId('group-priority'), { target: { value: 'high' } });
    fireEvent.click(screen.getByTestId('group-create'));
    expect(screen.getByTestId('group-create-error').textContent).toBe('Priority: "high" is not a whole number from -1000 to 1000');
    expect(net.api.callsTo('POST', '/api/v1/groups')).toEqual([]);
    fireEvent.change(screen.getByTestId('group-priority'), { target: { value: '5' } });
    fireEvent.change(screen.getByTestId('group-selector'), { target: { value: 'gpu!!' } });
    fireEvent.click(screen.getByTestId('group-create'));
    expect((await screen.findByTestId('group-create-error')).textContent).toBe("selector: cannot parse 'gpu!!'");
    expect(net.groups.size).toBe(0);
  });

  it('sets global variables as YAML scalars, refuses garbage lines, and removes one after asking', async () => {
    renderSignedIn(<GroupsPage />, operator);
    const lines = await screen.findByTestId('global-vars-lines');
    fireEvent.change(lines, { target: { value: 'good=1\n2bad=x' } });
    fireEvent.click(screen.getByTestId('global-vars-set'));
    expect(screen.getByTestId('global-vars-error').textContent).toContain('"2bad" is not a variable name');
    expect(net.api.callsTo('PUT', '/api/v1/vars')).toEqual([]);
    fireEvent.change(lines, { target: { value: 'driver=550\nlabel="550"\nenabled=true\nmirror=~' } });
    fireEvent.click(screen.getByTestId('global-vars-set'));
    await waitFor(() => expect(screen.getAllByTestId('var-row').length).toBe(4));
    expect(net.api.callsTo('PUT', '/api/v1/vars').map((c) => c.body)).toEqual([
      { scope: 'global', set: { driver: 550, label: '550', enabled: true, mirror: null } },
    ]);
    const driver = screen.getAllByTestId('var-row').find((r) => r.dataset.name === 'driver')!;
    fireEvent.click(within(driver).getByTestId('var-remove'));
    fireEvent.click(await screen.findByTestId('confirm-ok'));
    await waitFor(() => expect(screen.getAllByTestId('var-row').length).toBe(3));
    expect(net.api.callsTo('PUT', '/api/v1/vars').at(-1)!.body).toEqual({ scope: 'global', remove: ['driver'] });
  });
});

describe('Group page', () => {
  it('shows settings, members (by name or selector, linked) and variables; a viewer gets no action', async () => {
    addGroups();
    renderSignedIn(<GroupDetailPage name="gpu_nodes" />, viewer);
    await screen.findByTestId('group-title');
    expect(screen.getByTestId('group-priority-value').textContent).toBe('10');
    expect(screen.getByTestId('group-selector-value').textContent).toBe('gpu.vendor=nvidia');
    const members = screen.getAllByTestId('group-member');
    expect(members.map((m) => [m.dataset.hostname, m.textContent?.includes('by name') ? 'name' : 'selector'])).toEqual([
      ['gpu-07', 'name'],
      ['gpu-08', 'selector'],
    ]);
    expect(within(members[0]!).getByText('gpu-07').getAttribute('href')).toBe(`/nodes/${encodeURIComponent(SSH_NODE_B)}`);
    expect(within(members[0]!).getByText('variables').getAttribute('href')).toBe(`/nodes/${encodeURIComponent(SSH_NODE_B)}/vars`);
    expect(screen.getAllByTestId('var-row').map((r) => [r.dataset.name, within(r).getByTestId('var-value').textContent])).toEqual([
      ['install_cuda', 'false'],
      ['nvidia_driver_version', '550'],
    ]);
    expect(screen.queryByTestId('group-save')).toBeNull();
    expect(screen.queryByTestId('group-delete')).toBeNull();
    expect(screen.queryByTestId('group-member-remove')).toBeNull();
    expect(screen.getByTestId('cli-hint').textContent).toBe('gpufleet groups get gpu_nodes');
  });

  it('an operator changes a variable, edits settings (the server refusing a bad selector), removes a member and deletes the group', async () => {
    addGroups();
    window.history.replaceState(null, '', '/groups/gpu_nodes');
    renderSignedIn(<GroupDetailPage name="gpu_nodes" />, operator);
    await screen.findByTestId('group-title');
    // Change: the value is loaded as it would be typed, then set again.
    const row = screen.getAllByTestId('var-row').find((r) => r.dataset.name === 'nvidia_driver_version')!;
    fireEvent.click(within(row).getByTestId('var-edit'));
    const lines = screen.getByTestId('group-vars-lines') as HTMLTextAreaElement;
    expect(lines.value).toBe('nvidia_driver_version=550');
    fireEvent.change(lines, { target: { value: 'nvidia_driver_version=535' } });
    fireEvent.click(screen.getByTestId('group-vars-set'));
    await waitFor(() => expect(net.api.callsTo('PUT', '/api/v1/vars').length).toBe(1));
    expect(net.api.callsTo('PUT', '/api/v1/vars')[0]!.body).toEqual({ scope: 'group', target: 'gpu_nodes', set: { nvidia_driver_version: 535 } });

    fireEvent.change(screen.getByTestId('group-edit-selector'), { target: { value: 'x!!' } });
    fireEvent.click(screen.getByTestId('group-save'));
    expect((await screen.findByTestId('group-edit-error')).textContent).toBe("selector: cannot parse 'x!!'");
    fireEvent.change(screen.getByTestId('group-edit-selector'), { target: { value: '' } });
    fireEvent.change(screen.getByTestId('group-edit-priority'), { target: { value: '20' } });
    fireEvent.click(screen.getByTestId('group-save'));
    await waitFor(() => expect(screen.getByTestId('group-priority-value').textContent).toBe('20'));
    expect(net.api.callsTo('PATCH', '/api/v1/groups/gpu_nodes').at(-1)!.body).toEqual({ priority: 20, selector: null, description: '' });

    fireEvent.click(screen.getByTestId('group-member-remove'));
    await waitFor(() => expect(net.api.callsTo('PATCH', '/api/v1/groups/gpu_nodes').at(-1)!.body).toEqual({ remove: [SSH_NODE_B] }));

    fireEvent.click(screen.getByTestId('group-delete'));
    fireEvent.change(await screen.findByTestId('confirm-type'), { target: { value: 'gpu_nodes' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(window.location.pathname).toBe('/groups'));
    expect(net.groups.has('gpu_nodes')).toBe(false);
  });

  it('says when there is no such group', async () => {
    renderSignedIn(<GroupDetailPage name="nope" />, viewer);
    expect((await screen.findByText(/No group named/)).textContent).toContain('nope');
  });
});

describe('Node variables', () => {
  it('shows each merged value with the layer it came from and what it overrode', async () => {
    net.resolved.set(SSH_NODE_A, {
      nodeId: SSH_NODE_A,
      hostname: 'gpu-07',
      groups: [
        { name: 'gpu_nodes', priority: 10 },
        { name: 'all_lab', priority: 0 },
      ],
      vars: {
        nvidia_driver_version: {
          value: 535,
          origin: {
            scope: 'node',
            source: 'gpu-07',
            overrides: [
              { scope: 'global', source: null, value: 545 },
              { scope: 'group', source: 'gpu_nodes', value: 550 },
            ],
          },
        },
        install_cuda: { value: false, origin: { scope: 'group', source: 'gpu_nodes', overrides: [] } },
        ntp_server: { value: 'pool.ntp.org', origin: { scope: 'global', source: null, overrides: [] } },
      },
    });
    renderSignedIn(<NodeVarsPage nodeRef={SSH_NODE_A} />, viewer);
    await screen.findByTestId('node-vars-title');
    expect(screen.getByTestId('node-vars-groups').textContent).toBe('Groups, lowest priority first: all_lab (0), gpu_nodes (10)');
    const rows = screen.getAllByTestId('node-var');
    expect(rows.map((r) => [r.dataset.name, r.dataset.origin])).toEqual([
      ['install_cuda', 'group gpu_nodes'],
      ['ntp_server', 'global'],
      ['nvidia_driver_version', 'node'],
    ]);
    expect(within(rows[2]!).getByTestId('node-var-overrides').textContent).toBe('global: 545 · group gpu_nodes: 550');
    expect(within(rows[0]!).getByText('group gpu_nodes').getAttribute('href')).toBe('/groups/gpu_nodes');
    expect(screen.getByTestId('cli-hint').textContent).toBe('gpufleet vars show gpu-07');
  });

  it('shows a refusal with a retry', async () => {
    net.refuse('GET /api/v1/nodes/:node/vars', fakeError(500, 'internal', 'the store is gone'));
    renderSignedIn(<NodeVarsPage nodeRef="gpu-07" />, viewer);
    expect((await screen.findByRole('alert')).textContent).toContain('the store is gone');
  });
});
