import { z } from 'zod';
import { GpuInfo, GpuSample, ToolFailure } from './gpu.js';
import { HostFacts, HostSample } from './host.js';
import { ERROR_CODES } from './errors.js';
import { Revocation, RootsUpdate, SignedCommand } from './remote-ops.js';
import { ServerUrlList } from './server-urls.js';
import { UpdateFrame } from './update-frames.js';
import { AllocFrame } from './workload-frames.js';

/** The agent<->server protocol version this build speaks. The server refuses others, saying so. */
export const PROTOCOL_VERSION = 1;
/** Frames larger than this are refused (bytes of JSON text). */
export const MAX_FRAME_BYTES = 1024 * 1024;

const epochMs = z.number().int().nonnegative();
const did = z.string().startsWith('did:key:z').max(128);

/** What the agent signs to answer a challenge: bound to the server's nonce and the node id. */
export function challengeMessage(nonce: string, nodeId: string): string {
  return `gpufleet-agent-auth:v1:${nonce}:${nodeId}`;
}

/** What the agent signs at enrollment to prove it holds the key it presents. */
export function enrollmentMessage(tokenId: string, nodeId: string): string {
  return `gpufleet-enroll:v1:${tokenId}:${nodeId}`;
}

/** Health-relevant facts the agent must not lose: they travel through the outbox with a seq. */
export const AgentEvent = z.object({
  id: z.string().min(1).max(64),
  ts: epochMs,
  /**
   * xid / sxid / fallen-off-bus / driver: a kernel log line (data: KernelEventData);
   * counter: a health counter changed between two samples (data: CounterEventData).
   */
  kind: z.enum([
    'tool-failure',
    'tool-recovered',
    'gpu-missing',
    'gpu-returned',
    'kernel-log',
    'agent-started',
    'xid',
    'sxid',
    'fallen-off-bus',
    'driver',
    'counter',
    'run-started',
    'run-output',
    'run-result',
    'run-refused',
    /** A workload allocation's state on this host (workload-frames.ts AllocStateData). */
    'alloc-state',
    /** A chunk of an allocation's output (AllocOutputData); not critical, like run output. */
    'alloc-output',
    /** A release's state on this host (update-frames.ts UpdateStateData). */
    'update-state',
    /** A bundle's containers differ from its desired state (BundleDriftData). */
    'bundle-drift',
  ]),
  gpuUuid: z.string().max(128).nullable(),
  pciBusId: z.string().max(32).nullable(),
  message: z.string().max(8192),
  data: z.record(z.string(), z.unknown()),
});
export type AgentEvent = z.infer<typeof AgentEvent>;

export const InventoryBody = z.object({
  host: HostFacts,
  gpus: z.array(GpuInfo).max(64),
  toolFailures: z.array(ToolFailure).max(16),
});
export type InventoryBody = z.infer<typeof InventoryBody>;

export const MetricsBody = z.object({
  ts: epochMs,
  host: HostSample,
  gpus: z.array(GpuSample).max(64),
});
export type MetricsBody = z.infer<typeof MetricsBody>;

// ---- agent -> server ----
export const HelloFrame = z.object({
  t: z.literal('hello'),
  body: z.object({
    protocolVersion: z.number().int(),
    nodeId: did,
    agentVersion: z.string().max(64),
    signature: z.string().max(256),
    /** Highest outbox seq the agent has assigned; lets the server spot gaps. */
    lastSeq: z.number().int().nonnegative(),
  }),
});
export const InventoryFrame = z.object({ t: z.literal('inventory'), seq: z.number().int().positive(), body: InventoryBody });
export const MetricsFrame = z.object({ t: z.literal('metrics'), body: MetricsBody });
export const EventFrame = z.object({ t: z.literal('event'), seq: z.number().int().positive(), body: AgentEvent });
export const HeartbeatFrame = z.object({ t: z.literal('heartbeat'), body: z.object({ ts: epochMs }) });

export const AgentFrame = z.discriminatedUnion('t', [HelloFrame, InventoryFrame, MetricsFrame, EventFrame, HeartbeatFrame]);
export type AgentFrame = z.infer<typeof AgentFrame>;
export const AGENT_FRAME_TYPES = ['hello', 'inventory', 'metrics', 'event', 'heartbeat'] as const;

// ---- server -> agent ----
export const ChallengeFrame = z.object({
  t: z.literal('challenge'),
  body: z.object({ nonce: z.string(), serverTime: epochMs, protocolVersions: z.array(z.number().int()) }),
});
export const WelcomeFrame = z.object({
  t: z.literal('welcome'),
  body: z.object({
    nodeId: did,
    status: z.string(),
    heartbeatMs: z.number().int().positive(),
    metricsIntervalMs: z.number().int().positive(),
    /** Every outbox item up to this seq is already stored; the agent may drop them. */
    ackedSeq: z.number().int().nonnegative(),
    /**
     * The control plane's current replica URLs; the agent fails over between them and keeps
     * them for its next start. Absent from older servers. A list the agent cannot use reads as
     * absent: a bad list must not cost the session its welcome.
     */
    serverUrls: ServerUrlList.optional().catch(undefined),
  }),
});
export const AckFrame = z.object({ t: z.literal('ack'), body: z.object({ seq: z.number().int().nonnegative() }) });
export const ConfigFrame = z.object({ t: z.literal('config'), body: z.object({ metricsIntervalMs: z.number().int().positive() }) });
export const ErrorFrame = z.object({
  t: z.literal('error'),
  body: z.object({ code: z.enum(ERROR_CODES), message: z.string(), fatal: z.boolean(), seq: z.number().int().optional() }),
});

/**
 * A run for this host: the operator's signed command plus what the server attaches (the script
 * content for library scripts). The host verifies everything before it runs anything.
 */
export const CommandFrame = z.object({
  t: z.literal('command'),
  body: z.object({ command: SignedCommand, scriptContent: z.string().max(1_048_576).nullable(), scriptSignature: z.unknown().nullable() }),
});
/**
 * Stop a run on this host (kills its process group). The frame itself is not signed: it can only
 * stop work. `signed`, when present, is an operator's SignedCancel (signed-cancel.ts), checked by
 * the host (cancelProblem): it also makes the host refuse the command if it arrives later.
 */
export const CancelFrame = z.object({ t: z.literal('cancel'), body: z.object({ runId: z.string(), signed: z.unknown().optional() }) });
/**
 * Trust material: signed root-set updates and signed revocations; the host checks each signature.
 * `labels`, when present, is the node's latest LabelAttestation (label-attestation.ts), which the
 * host verifies itself (verifyLabelAttestation) before it vouches for those labels.
 */
export const TrustFrame = z.object({
  t: z.literal('trust'),
  body: z.object({ roots: z.array(RootsUpdate).max(16), revocations: z.array(Revocation).max(10_000), labels: z.unknown().optional() }),
});

export const ServerFrame = z.discriminatedUnion('t', [
  ChallengeFrame,
  WelcomeFrame,
  AckFrame,
  ConfigFrame,
  ErrorFrame,
  CommandFrame,
  CancelFrame,
  TrustFrame,
  AllocFrame,
  UpdateFrame,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/** WebSocket close codes (4000-4999 are ours). */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  protocolViolation: 4400,
  unauthenticated: 4401,
  forbidden: 4403,
  unsupportedVersion: 4426,
  tooLarge: 4413,
  replaced: 4409,
} as const;
