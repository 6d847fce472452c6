import { z } from 'zod';
import { ABILITIES, CONTAINER_OPS, MAX_CHAIN_DEPTH, capabilityDepthExceeds } from './remote-ops-rules.js';

/**
 * Remote operations (issue 4): what operators sign and agents verify. The server routes these
 * objects but cannot forge them: every check that decides whether a host runs something happens
 * on the host (see capability.ts and signed-command.ts for the verification rules).
 */

// The plain rules live in remote-ops-rules.ts (importable without zod); they are part of this module's API.
export { ABILITIES, CONTAINER_OPS, MAX_CHAIN_DEPTH, abilityForContainerOp, capabilityDepthExceeds, type ContainerOp } from './remote-ops-rules.js';

export const Ability = z.enum(ABILITIES);
export type Ability = z.infer<typeof Ability>;

const did = z.string().startsWith('did:key:z').max(128);
const epochMs = z.number().int().nonnegative();

/** How a capability constrains the commands it authorizes (command-limits.ts has the rules). */
export interface CapabilityLimitsShape {
  /** Accounts a command may run as (name patterns, `*` matches anything); null runAs counts as the agent's own account. */
  runAs?: string[];
  /** Environment variable names a command may set (patterns such as `HF_*`); an empty list allows none. */
  env?: string[];
  /** Working directories (absolute path patterns, `/srv/jobs/*` for anything below); a command must name one. */
  cwd?: string[];
  /** 'root-signed': a library script runs only when a fleet root signed it (the invoker's own signature is not enough). */
  scripts?: 'root-signed';
}

export interface CapabilityShape {
  v: 1;
  iss: string;
  aud: string;
  can: Ability[];
  /** A label selector (parseSelector syntax) of the hosts this applies to, or '*'. */
  on: string;
  nbf: number;
  exp: number;
  nonce: string;
  /** Parent capabilities, inline and signed: prf[0] is the one this narrows. Empty = issued by a root. */
  prf: CapabilityShape[];
  /** Constraints on how authorized commands run; absent: none. A child keeps and narrows every limit of its parent. */
  limits?: CapabilityLimitsShape;
  /** Ed25519 signature (base64url) by iss over canonicalJson of every other field. */
  sig: string;
}

const limitPattern = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f]*$/, 'no control characters');

/** Constraints on runAs, env and cwd, and on who must have signed a library script. */
export const CapabilityLimits: z.ZodType<CapabilityLimitsShape> = z.strictObject({
  runAs: z
    .array(limitPattern(64).regex(/^[A-Za-z0-9_.*$-]+$/, 'a user name pattern is letters, digits, . _ - $ and *'))
    .max(64)
    .optional(),
  env: z
    .array(limitPattern(128).regex(/^[A-Za-z_*][A-Za-z0-9_*]*$/, 'an env name pattern is letters, digits, _ and *'))
    .max(64)
    .optional(),
  cwd: z.array(limitPattern(4096).startsWith('/', 'a cwd pattern is an absolute path')).max(64).optional(),
  scripts: z.literal('root-signed').optional(),
});
export type CapabilityLimits = CapabilityLimitsShape;

/** A UCAN-style delegated capability token. */
export const Capability: z.ZodType<CapabilityShape> = z.lazy(() =>
  z
    .unknown()
    .refine((v) => !capabilityDepthExceeds(v), `capability chain is deeper than ${MAX_CHAIN_DEPTH} links`)
    .pipe(
      z.strictObject({
        v: z.literal(1),
        iss: did,
        aud: did,
        can: z.array(Ability).min(1).max(16),
        on: z.string().max(4096),
        nbf: epochMs,
        exp: epochMs,
        nonce: z.string().min(8).max(128),
        prf: z.array(Capability).max(1),
        limits: CapabilityLimits.optional(),
        sig: z.string().max(256),
      }),
    ),
);
export type Capability = CapabilityShape;

/** What a command asks the host to do. */
export const CommandSpec = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('argv'), argv: z.array(z.string().max(65_536)).min(1).max(1024) }),
  z.strictObject({ kind: z.literal('shell'), script: z.string().min(1).max(1_048_576) }),
  /** A script from the signed library: the host checks sha256 of the delivered content and the script's own signature. */
  z.strictObject({
    kind: z.literal('script'),
    name: z.string().min(1).max(200),
    version: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    args: z.array(z.string().max(65_536)).max(1024),
  }),
  /** A container operation on the host's engine; for 'ls' the container field is ignored (send '*'). */
  z.strictObject({
    kind: z.literal('container'),
    op: z.enum(CONTAINER_OPS),
    container: z.string().min(1).max(256),
    follow: z.boolean().optional(),
    tail: z.number().int().nonnegative().max(100_000).optional(),
    sinceMs: epochMs.optional(),
  }),
]);
export type CommandSpec = z.infer<typeof CommandSpec>;

/** The operator-signed part of a run: everything the host acts on. */
export const CommandPayload = z.strictObject({
  v: z.literal(1),
  runId: z.string().min(8).max(64),
  nonce: z.string().min(16).max(128),
  issuedAt: epochMs,
  ability: Ability.exclude(['*']),
  /** Selector of the hosts the operator meant; the host checks it matches itself. */
  target: z.string().max(4096),
  command: CommandSpec,
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(65_536)),
  cwd: z.string().max(4096).nullable(),
  timeoutMs: z
    .number()
    .int()
    .positive()
    .max(7 * 86_400_000),
  runAs: z.string().max(64).nullable(),
  invoker: did,
  /** The invoker's delegated capability; null when the invoker is itself a fleet root. */
  capability: Capability.nullable(),
});
export type CommandPayload = z.infer<typeof CommandPayload>;

export const SignedCommand = z.strictObject({ payload: CommandPayload, sig: z.string().max(256) });
export type SignedCommand = z.infer<typeof SignedCommand>;

/** A signed script in the library: the signature covers (name, version, sha256). */
export const ScriptSignature = z.strictObject({
  name: z.string(),
  version: z.number().int().positive(),
  sha256: z.string(),
  signer: did,
  sig: z.string().max(256),
});
export type ScriptSignature = z.infer<typeof ScriptSignature>;

/** Revokes a capability (by id) or every capability issued by or to a key (by did). */
export const Revocation = z.strictObject({
  v: z.literal(1),
  target: z.union([z.strictObject({ capability: z.string().regex(/^[0-9a-f]{64}$/) }), z.strictObject({ did })]),
  iss: did,
  at: epochMs,
  reason: z.string().max(500),
  sig: z.string().max(256),
});
export type Revocation = z.infer<typeof Revocation>;

/** A new set of fleet roots, signed by a root of the current set. */
export const RootsUpdate = z.strictObject({
  v: z.literal(1),
  version: z.number().int().positive(),
  roots: z.array(did).min(1).max(32),
  iss: did,
  at: epochMs,
  sig: z.string().max(256),
});
export type RootsUpdate = z.infer<typeof RootsUpdate>;

/** Why a host refused a command; each case of the security matrix has its own. */
export const REFUSAL_REASONS = [
  'bad_signature',
  'unknown_issuer',
  'untrusted_chain',
  'expired',
  'not_yet_valid',
  'not_attenuated',
  'selector_mismatch',
  'ability_not_granted',
  'replayed_nonce',
  'revoked',
  'script_tampered',
  'script_unsigned',
  'malformed',
  'unsupported',
  /** A signed cancel for this command reached the host first (or while it waited). */
  'canceled',
  /** The command's runAs, env, cwd or script signer is outside what its capability allows. */
  'constraint_violated',
  /** A workload placement does not fit its signed job or this host (signed-job.ts placementProblem). */
  'placement_invalid',
  /** A release target failed its TUF checks, or differs from the one the rollout was signed for (issue 14). */
  'release_refused',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** The result of verifying something on the host. */
export type Verdict = { ok: true } | { ok: false; reason: RefusalReason; message: string };

/** Per-target states of a run, as the server records them. */
export const RUN_TARGET_STATES = ['queued', 'sent', 'running', 'succeeded', 'failed', 'timed_out', 'canceled', 'unreachable', 'refused'] as const;
export type RunTargetState = (typeof RUN_TARGET_STATES)[number];

// ---- agent event data for runs (AgentEvent kinds 'run-started' | 'run-output' | 'run-result' | 'run-refused') ----
export const RunStartedData = z.object({ runId: z.string(), pid: z.number().int().nullable() });
export const RunOutputData = z.object({
  runId: z.string(),
  stream: z.enum(['stdout', 'stderr']),
  chunk: z.number().int().nonnegative(),
  data: z.string(),
  truncated: z.boolean().optional(),
});
export const RunResultData = z.object({
  runId: z.string(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  timedOut: z.boolean(),
  canceled: z.boolean(),
  durationMs: z.number().int().nonnegative(),
  outputBytes: z.number().int().nonnegative(),
  truncated: z.boolean(),
});
export const RunRefusedData = z.object({ runId: z.string(), reason: z.enum(REFUSAL_REASONS), message: z.string() });
