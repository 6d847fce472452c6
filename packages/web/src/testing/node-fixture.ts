import type { NodeView } from '@gpufleet/protocol';

/**
 * A NodeView as GET /api/v1/nodes writes it, for a READY host without GPUs (tests that need the
 * whole shape check it with the protocol's NodeView schema).
 */
export function nodeViewFixture(id: string, hostname: string, over: Partial<NodeView> = {}): NodeView {
  return {
    id,
    hostname,
    status: 'READY',
    connected: true,
    labels: { hostname },
    userLabels: {},
    enrolledAt: '2025-05-01T10:00:00.000Z',
    lastSeenAt: '2025-05-01T12:00:00.000Z',
    agentVersion: '0.1.0',
    simulated: true,
    facts: { hostname, os: { id: 'debian', name: 'Debian GNU/Linux', version: '12' }, kernel: '6.1.0-18-amd64', arch: 'x86_64', cpu: { model: 'AMD EPYC 9454', cores: 48, threads: 96 }, memoryTotalBytes: 1024 ** 4, disks: [], network: [], containerRuntime: null, agentVersion: '0.1.0', bootTime: null },
    gpus: [],
    host: null,
    toolFailures: [],
    statusChange: null,
    health: { verdict: 'healthy', rule: null, cause: null, since: null, findings: [] },
    ...over,
  };
}
