import { nodeToRow } from '../row-mappers.js';
import { emptyGpuSnapshot, gpuInfoOf, type HostFacts } from '@gpufleet/protocol';
import type { AgentEventRecord, ApiTokenRecord, AuditInput, JoinTokenRecord, NodeRecord } from '../store.js';

/** Sample records for the store contract suite: every field set, with awkward values where it helps. */

export const T0 = 1_760_000_000_000; // an epoch-ms time in 2025

export function sampleFacts(hostname: string): HostFacts {
  return {
    hostname,
    os: { id: 'debian', name: 'Debian GNU/Linux', version: '12' },
    kernel: '6.1.0-28-amd64',
    arch: 'x86_64',
    cpu: { model: 'AMD EPYC 7763 64-Core Processor', cores: 64, threads: 128 },
    memoryTotalBytes: 1_081_872_359_424,
    disks: [{ device: '/dev/nvme0n1p2', mount: '/', fsType: 'ext4', totalBytes: 1.9e12, usedBytes: 4.2e11 }],
    network: [{ name: 'eth0', mac: '0c:42:a1:00:00:01', addresses: ['10.0.0.5/24', 'fe80::1/64'] }],
    containerRuntime: { name: 'docker', socket: '/var/run/docker.sock' },
    agentVersion: '0.1.0',
    bootTime: T0 - 86_400_000,
  };
}

export function sampleGpu(index: number) {
  return gpuInfoOf({
    ...emptyGpuSnapshot('nvidia', index),
    uuid: `GPU-0000000${index}-aaaa-bbbb-cccc-000000000000`,
    name: 'NVIDIA H100 80GB HBM3',
    pciBusId: `0000:${(0x17 + index).toString(16)}:00.0`,
    memoryTotalBytes: 85_520_809_984,
    driverVersion: '550.54.15',
    runtimeVersion: '12.4',
    migMode: 'enabled',
    migDevices: [{ gpuInstanceId: 1, computeInstanceId: 0, uuid: 'MIG-1', profile: '1g.10gb', memoryTotalBytes: 1e10, memoryUsedBytes: null }],
    eccMode: 'enabled',
  });
}

/** A node with every nullable field set; pass overrides for the variant under test. */
export function sampleNode(id: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  const hostname = `host-${id.slice(-6)}`;
  return {
    id,
    hostname,
    adminState: 'active',
    tokenLabels: { region: 'eu-west', 'gpufleet.io/pool': 'h100' },
    userLabels: { team: 'ml-ünïcødé', note: 'quote " and \\ backslash' },
    facts: sampleFacts(hostname),
    gpus: [sampleGpu(0), sampleGpu(1)],
    toolFailures: [{ vendor: 'amd', tool: 'amd-smi', message: 'amd-smi: not found\n', exitCode: 127 }],
    agentVersion: '0.1.0',
    simulated: true,
    joinTokenId: 'jt_abc',
    enrolledAt: T0,
    lastSeenAt: T0 + 5_000,
    ackedSeq: 42,
    cordonReason: 'xid 79 on GPU 1',
    mode: 'agent',
    ...overrides,
  };
}

/** The same node with every nullable field null and empty collections. */
export function bareNode(id: string, enrolledAt = T0): NodeRecord {
  return sampleNode(id, {
    tokenLabels: {},
    userLabels: {},
    gpus: [],
    toolFailures: [],
    simulated: false,
    joinTokenId: null,
    enrolledAt,
    lastSeenAt: null,
    ackedSeq: 0,
    cordonReason: null,
    mode: 'agent',
    adminState: 'pending',
  });
}

export function sampleJoinToken(id: string, overrides: Partial<JoinTokenRecord> = {}): JoinTokenRecord {
  return {
    id,
    secretHash: 'a'.repeat(64),
    description: 'eu pool, expires tomorrow',
    labels: { region: 'eu-west' },
    reusable: false,
    needsApproval: true,
    createdAt: T0,
    expiresAt: T0 + 86_400_000,
    revokedAt: null,
    uses: 0,
    createdBy: 'api:tok_admin',
    ...overrides,
  };
}

export function sampleApiToken(id: string, overrides: Partial<ApiTokenRecord> = {}): ApiTokenRecord {
  return {
    id,
    secretHash: 'b'.repeat(64),
    name: `token ${id}`,
    role: 'operator',
    createdAt: T0,
    lastUsedAt: null,
    revokedAt: null,
    ...overrides,
  };
}

export function sampleEvent(nodeId: string, seq: number, overrides: Partial<AgentEventRecord> = {}): AgentEventRecord {
  return {
    nodeId,
    seq,
    id: `ev-${nodeId.slice(-4)}-${seq}`,
    ts: T0 + seq * 1000,
    kind: 'kernel-log',
    gpuUuid: 'GPU-00000001-aaaa-bbbb-cccc-000000000000',
    pciBusId: '0000:18:00.0',
    message: `NVRM: Xid (PCI:0000:18:00): 79, pid=${seq}`,
    data: { xid: 79, nested: { list: [1, 'two', null] }, flag: true },
    receivedAt: T0 + seq * 1000 + 7,
    ...overrides,
  };
}

export function sampleAudit(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    at: T0,
    actor: 'api:tok_admin',
    action: 'node.cordon',
    target: 'did:key:z6MkTarget',
    result: 'ok',
    details: { reason: 'maintenance', gpus: ['GPU-1'], count: 2 },
    ...overrides,
  };
}

/** A node row as releases before 0009_ssh_hosts stored it (no mode column), for upgrade tests. */
export function nodeRowBefore0009(node: NodeRecord): Omit<ReturnType<typeof nodeToRow>, 'mode'> {
  const { mode: _mode, ...row } = nodeToRow(node);
  return row;
}
