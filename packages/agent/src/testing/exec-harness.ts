import { randomBytes } from 'node:crypto';
import {
  commandAbilities,
  signCapability,
  signCommand,
  type AgentEvent,
  type Capability,
  type CommandPayload,
  type CommandSpec,
  type Ed25519KeyPair,
  type SignedCommand,
} from '@gpufleet/protocol';
import { Agent, type AgentOptions } from '../runtime/agent.js';
import { identityFromSeed, type AgentIdentity } from '../runtime/identity.js';
import { MemoryStateStore, type AgentStateStore } from '../runtime/state.js';
import type { FakeControlPlane, FakeNode } from './fake-control-plane.js';
import { StubBackend } from './stub-backend.js';

/**
 * Helpers for remote-operation tests: operator-signed commands and capabilities, an agent on
 * a FakeControlPlane, and waiting for a run's events.
 */

const HOUR = 3_600_000;

/** A capability issued by `issuer` to `audience`; valid from an hour ago for an hour unless told otherwise. */
export function capabilityFor(issuer: Ed25519KeyPair, audience: string, fields: Partial<Omit<Capability, 'iss' | 'aud' | 'sig'>> = {}): Capability {
  const now = Date.now();
  return signCapability(
    {
      v: 1,
      iss: issuer.did,
      aud: audience,
      can: ['exec/run'],
      on: '*',
      nbf: now - HOUR,
      exp: now + HOUR,
      nonce: randomBytes(8).toString('hex'),
      prf: [],
      ...fields,
    },
    issuer.privateKeyPem,
  );
}

export interface CommandFields extends Partial<Omit<CommandPayload, 'invoker' | 'command'>> {
  command: CommandSpec;
}

/** A command signed by `key` (the invoker); fresh run id and nonce unless given. */
export function signedCommand(key: Ed25519KeyPair, fields: CommandFields): SignedCommand {
  const payload: CommandPayload = {
    v: 1,
    runId: `run-${randomBytes(6).toString('hex')}`,
    nonce: randomBytes(16).toString('hex'),
    issuedAt: Date.now(),
    ability: commandAbilities(fields.command)[0] as CommandPayload['ability'],
    target: '*',
    env: {},
    cwd: null,
    timeoutMs: 20_000,
    runAs: null,
    capability: null,
    ...fields,
    invoker: key.did,
  };
  return signCommand(payload, key.privateKeyPem);
}

/** Sends a command frame to the node, as the server would. */
export function deliver(cp: FakeControlPlane, nodeId: string, command: SignedCommand, script: { content?: string | null; signature?: unknown } = {}): void {
  cp.sendTo(nodeId, { t: 'command', body: { command, scriptContent: script.content ?? null, scriptSignature: script.signature ?? null } });
}

/** The events of one run that reached the server, in arrival order, with their seqs. */
export function runEvents(node: FakeNode, runId: string): { seq: number; body: AgentEvent }[] {
  return node.events.filter((e) => e.body.kind.startsWith('run-') && (e.body.data as { runId?: unknown }).runId === runId);
}

/** Waits until `count` events of `kind` for the run arrived; returns the last one. */
export async function waitForRunEvent(
  cp: FakeControlPlane,
  node: FakeNode,
  runId: string,
  kind: AgentEvent['kind'],
  count = 1,
  timeoutMs = 10_000,
): Promise<AgentEvent> {
  await cp.waitFor(`${count} ${kind} for ${runId}`, () => runEvents(node, runId).filter((e) => e.body.kind === kind).length >= count, timeoutMs);
  return runEvents(node, runId).filter((e) => e.body.kind === kind)[count - 1]!.body;
}

export interface ExecAgent {
  agent: Agent;
  node: FakeNode;
  identity: AgentIdentity;
  state: AgentStateStore;
}

/**
 * Starts an agent (StubBackend: host 'stub-host', debian, x86_64, two NVIDIA H100) trusting
 * `roots`, joined with `labels`, and waits until it is live. The caller stops it.
 */
export async function startExecAgent(
  cp: FakeControlPlane,
  o: { roots: string[]; labels?: Record<string, string>; seed?: number; state?: AgentStateStore } & Partial<AgentOptions>,
): Promise<ExecAgent> {
  const identity = identityFromSeed(new Uint8Array(32).fill(o.seed ?? 7));
  const node = cp.addNode(identity.did);
  const state = o.state ?? new MemoryStateStore();
  if (!state.loadConfig())
    state.saveConfig({ nodeId: identity.did, serverUrl: cp.url, caPem: null, roots: o.roots, heartbeatMs: 1000, labels: o.labels ?? {} });
  const agent = new Agent({
    identity,
    backend: new StubBackend(2),
    agentVersion: '1.0.0',
    random: () => 0.5,
    backoff: { baseMs: 20, capMs: 100 },
    metricsIntervalMs: 60_000,
    ...o,
    state,
  });
  const welcomes = node.welcomes;
  await agent.start();
  await cp.waitFor('the welcome', () => node.welcomes > welcomes && agent.linkState === 'live');
  return { agent, node, identity, state };
}
