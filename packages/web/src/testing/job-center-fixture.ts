import type { GroupView, PlayEventView, PlayHostStats, PlayView, SshHostView, TemplateDetailView } from '../lib/job-center.js';

/*
 * Job-center shapes as the server writes them (protocol job-center.ts), for component tests:
 * every field filled the way the SSH hosts, groups and plays services fill it.
 */

export const SSH_NODE_A = 'did:key:z6MkSshNodeAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
export const SSH_NODE_B = 'did:key:z6MkSshNodeBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
export const FINGERPRINT_A = `SHA256:${'A'.repeat(43)}`;
export const FINGERPRINT_B = `SHA256:${'b'.repeat(42)}0`;

export function sshHostFixture(nodeId: string, hostname: string, over: Partial<SshHostView> = {}): SshHostView {
  return {
    nodeId,
    hostname,
    address: '10.0.0.7',
    port: 22,
    user: 'root',
    bastion: null,
    loginKind: 'key',
    hostKey: { algorithm: 'ssh-ed25519', fingerprint: FINGERPRINT_A, pinnedAt: '2026-12-05T10:00:00.000Z', source: 'first-use' },
    refusedHostKey: null,
    reachable: true,
    lastContactAt: '2026-12-05T10:05:00.000Z',
    lastError: null,
    factsAt: '2026-12-05T10:05:00.000Z',
    credentialKeyVersion: 1,
    ...over,
  };
}

export function groupFixture(name: string, over: Partial<GroupView> = {}): GroupView {
  return {
    name,
    description: '',
    priority: 0,
    selector: null,
    members: [],
    nodes: [],
    vars: {},
    createdAt: '2026-12-05T09:00:00.000Z',
    ...over,
  };
}

export function templateFixture(name: string, over: Partial<TemplateDetailView> = {}): TemplateDetailView {
  return {
    name,
    version: 1,
    description: `the ${name} playbook`,
    category: 'check',
    builtin: true,
    become: false,
    timeoutMs: 600_000,
    vars: {},
    sha256: 'a'.repeat(64),
    createdAt: '2026-12-05T08:00:00.000Z',
    createdBy: 'system',
    playbook: `- hosts: all\n  gather_facts: false\n  tasks:\n    - name: ping\n      ansible.builtin.ping:\n`,
    versions: [1],
    ...over,
  };
}

export function playHostFixture(hostname: string, nodeId: string, over: Partial<PlayHostStats> = {}): PlayHostStats {
  return { hostname, nodeId, ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, state: 'pending', ...over };
}

export function playFixture(id: string, over: Partial<PlayView> = {}): PlayView {
  return {
    id,
    template: 'connectivity_check',
    templateVersion: 1,
    selector: 'group=lab',
    serial: null,
    check: false,
    state: 'RUNNING',
    hosts: [playHostFixture('gpu-07', SSH_NODE_A, { state: 'running' }), playHostFixture('gpu-08', SSH_NODE_B, { state: 'running' })],
    createdBy: 'ops',
    createdAt: '2026-12-05T10:10:00.000Z',
    startedAt: '2026-12-05T10:10:01.000Z',
    endedAt: null,
    exitCode: null,
    error: null,
    reason: null,
    ...over,
  };
}

export function playEventFixture(seq: number, over: Partial<PlayEventView> = {}): PlayEventView {
  return {
    seq,
    at: `2026-12-05T10:10:${String(seq % 60).padStart(2, '0')}.000Z`,
    kind: 'host',
    host: 'gpu-07',
    task: 'ping',
    status: 'ok',
    message: 'pong',
    ...over,
  };
}
