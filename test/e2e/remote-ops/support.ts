import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateEd25519,
  signCapability,
  signCommand,
  type Capability,
  type CommandPayload,
  type Ed25519KeyPair,
  type SignedCommand,
} from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../../../packages/server/src/testing/test-server.js';
import type { Cleanups } from '../support/cleanups.js';
import { waitFor } from '../support/wait-for.js';

/** Final states of a run target: the host will not change them any more. */
export const FINAL_TARGET_STATES = ['succeeded', 'failed', 'timed_out', 'canceled', 'unreachable', 'refused'] as const;

/** A run target as GET /api/v1/runs/:id shows it. */
export interface TargetView {
  nodeId: string;
  hostname: string;
  state: string;
  exitCode: number | null;
  reason: string | null;
}

/** A real control plane whose only fleet root is an operator key made for the test. */
export interface RootedServer {
  t: TestServer;
  root: Ed25519KeyPair;
  /** A reusable join token that carries the root (labels: `suite=remote-ops`). */
  joinToken: string;
}

/**
 * Starts a real server, makes `root` its first fleet root (POST /api/v1/roots/init with the
 * admin token) and creates a reusable join token that carries it. Registers its teardown.
 */
export async function startRootedServer(cleanups: Cleanups, flags: Record<string, unknown> = {}): Promise<RootedServer> {
  const t = await startTestServer(flags);
  cleanups.add('server', () => t.close());
  const root = generateEd25519();
  const init = await t.api('POST', '/api/v1/roots/init', { did: root.did });
  if (init.status !== 201) throw new Error(`roots/init answered ${init.status}: ${init.text}`);
  const created = await t.api('POST', '/api/v1/join-tokens', { description: 'remote-ops e2e', labels: { suite: 'remote-ops' }, reusable: true });
  if (created.status !== 201) throw new Error(`join-tokens answered ${created.status}: ${created.text}`);
  return { t, root, joinToken: created.body.token };
}

/** A temp dir for marker files, removed in teardown. */
export function markerDir(cleanups: Cleanups): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-rops-markers-'));
  cleanups.add('marker dir', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh run id and nonce (each command needs its own). */
export function freshIds(): { runId: string; nonce: string } {
  return { runId: `rops-${randomBytes(8).toString('hex')}`, nonce: randomBytes(16).toString('hex') };
}

/** argv that appends a line to `marker`: the file exists iff the host ran it. */
export function markerArgv(marker: string): string[] {
  return ['sh', '-c', `echo x >> '${marker}'`];
}

/** An unsigned command payload with defaults (argv that touches `marker`, exec/run, 30 s). */
export function payloadFor(invoker: string, over: Partial<CommandPayload> & { marker?: string } = {}): CommandPayload {
  const { marker, ...rest } = over;
  return {
    v: 1,
    ...freshIds(),
    issuedAt: Date.now(),
    ability: 'exec/run',
    target: '',
    command: { kind: 'argv', argv: markerArgv(marker ?? '/nonexistent/marker') },
    env: {},
    cwd: null,
    timeoutMs: 30_000,
    runAs: null,
    invoker,
    capability: null,
    ...rest,
  };
}

/** Signs a command payload with `key` (whose DID is the payload's invoker). */
export function signed(key: Ed25519KeyPair, over: Partial<CommandPayload> & { marker?: string } = {}): SignedCommand {
  return signCommand(payloadFor(key.did, over), key.privateKeyPem);
}

/** A capability `issuer` grants `aud`, valid for the last minute and the next hour unless overridden. */
export function grant(issuer: Ed25519KeyPair, aud: string, over: Partial<Omit<Capability, 'sig' | 'iss' | 'aud'>> = {}): Capability {
  const now = Date.now();
  return signCapability(
    {
      v: 1,
      iss: issuer.did,
      aud,
      can: ['exec/run'],
      on: '*',
      nbf: now - 60_000,
      exp: now + 3_600_000,
      nonce: randomBytes(12).toString('hex'),
      prf: [],
      ...over,
    },
    issuer.privateKeyPem,
  );
}

/** Flips one bit of a base64url signature: still well-formed, no longer valid. */
export function flipSignature(sig: string): string {
  const bytes = Buffer.from(sig, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  return bytes.toString('base64url');
}

/** Submits a run (admin token unless another is given); throws unless the server created it. */
export async function submitRun(t: TestServer, command: SignedCommand, batch?: unknown): Promise<string> {
  const res = await t.api('POST', '/api/v1/runs', batch === undefined ? { command } : { command, batch });
  if (res.status !== 201) throw new Error(`POST /api/v1/runs answered ${res.status}: ${res.text}`);
  return res.body.id as string;
}

/** Waits until every target of the run is final and returns the run view. */
export async function waitRunFinal(
  t: TestServer,
  runId: string,
  timeoutMs = 15_000,
): Promise<{ state: string; counts: Record<string, number>; targets: TargetView[] }> {
  return waitFor(
    `run ${runId} with every target final`,
    async () => {
      const r = await t.api('GET', `/api/v1/runs/${runId}`);
      const targets = (r.body?.targets ?? []) as TargetView[];
      return r.status === 200 && targets.length > 0 && targets.every((x) => (FINAL_TARGET_STATES as readonly string[]).includes(x.state)) ? r.body : null;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/** The one target of `hostname` in a run view; throws when absent. */
export function targetOf(run: { targets: TargetView[] }, hostname: string): TargetView {
  const found = run.targets.find((x) => x.hostname === hostname);
  if (!found) throw new Error(`no target ${hostname} in [${run.targets.map((x) => x.hostname).join(', ')}]`);
  return found;
}

/** The refusal reason code of a target (`reason: message` as the server stores it). */
export function reasonCode(target: TargetView): string | null {
  return target.reason === null ? null : target.reason.split(':', 1)[0]!;
}

/** Whether the marker exists (the host ran the command). */
export function ran(marker: string): boolean {
  return existsSync(marker);
}
