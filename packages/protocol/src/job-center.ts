import { z } from 'zod';
import { SignedCommand } from './remote-ops.js';
import { DurationText, LabelMap } from './rest.js';

/**
 * REST shapes of the job center (issue 12): agentless SSH hosts, node groups, layered variables,
 * playbook templates and plays (runs of a template). Requests are zod schemas; views are plain
 * types. Times are ISO 8601. Secrets go in (a private key, a password) and never come out.
 *
 * Routes (every mutation audited; roles as noted):
 *   POST   /api/v1/ssh-hosts/probe                 ProbeSshHostRequest → ProbeSshHostResult   (admin)
 *   POST   /api/v1/ssh-hosts                       AddSshHostRequest → AddSshHostResult       (admin)
 *   GET    /api/v1/ssh-hosts                       → { items: SshHostView[] }
 *   GET    /api/v1/ssh-hosts/{node}                → SshHostView   ({node}: id, id prefix or hostname)
 *   POST   /api/v1/ssh-hosts/{node}/trust-host-key TrustHostKeyRequest → SshHostView          (admin)
 *   POST   /api/v1/ssh-hosts/{node}/collect-facts  → SshHostView                              (operator)
 *   POST   /api/v1/ssh-hosts/{node}/promote        PromoteRequest → PromoteResult             (admin)
 *   POST   /api/v1/credentials/rotate              → RotateCredentialsResult                  (admin)
 *   GET    /api/v1/groups                          → { items: GroupView[] }
 *   POST   /api/v1/groups                          CreateGroupRequest → GroupView             (operator)
 *   GET    /api/v1/groups/{name}                   → GroupView
 *   PATCH  /api/v1/groups/{name}                   UpdateGroupRequest → GroupView             (operator)
 *   DELETE /api/v1/groups/{name}                   → 204                                       (operator)
 *   GET    /api/v1/vars?scope=&target=             → VarsView
 *   PUT    /api/v1/vars                            SetVarsRequest → VarsView                  (operator)
 *   GET    /api/v1/nodes/{node}/vars               → ResolvedVarsView
 *   GET    /api/v1/templates                       → { items: TemplateView[] }
 *   GET    /api/v1/templates/{name}?version=       → TemplateDetailView
 *   POST   /api/v1/templates                       AddTemplateRequest → TemplateView          (admin)
 *   POST   /api/v1/plays/plan                      StartPlayRequest → PlayPlanView            (operator)
 *   POST   /api/v1/plays                           StartPlayRequest → PlayView                (operator)
 *   GET    /api/v1/plays?state=&limit=             → { items: PlayView[] }   (newest first)
 *   GET    /api/v1/plays/{id}                      → PlayView
 *   GET    /api/v1/plays/{id}/events?after=&limit= → { items: PlayEventView[], next: number }
 *   GET    /api/v1/plays/{id}/stream               SSE: `event` (PlayEventView) ... then `end` (PlayView)
 *   POST   /api/v1/plays/{id}/cancel               → PlayView                                 (operator)
 */

/** How the control plane reaches a node: its own agent, or SSH from the server (no agent). */
export const NODE_MODES = ['agent', 'ssh'] as const;
export type NodeMode = (typeof NODE_MODES)[number];

const Hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a hostname: letters, digits, dot, dash, underscore');
const Address = z.string().min(1).max(253);
const Port = z.number().int().min(1).max(65535);
const User = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z_][a-z0-9_.-]*\$?$/i, 'a login name such as root or ubuntu');
/** OpenSSH's fingerprint: `SHA256:` and 43 base64 characters. */
export const HostKeyFingerprint = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a host key fingerprint such as SHA256:uS0eYNwv...');

/** How to log in. A key is the key file's text (the CLI reads the file); it is sealed at once. */
export const SshLoginInput = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('key'), privateKey: z.string().min(1).max(32_768), passphrase: z.string().max(1024).optional() }),
  z.strictObject({ kind: z.literal('password'), password: z.string().min(1).max(1024) }),
]);
export type SshLoginInput = z.infer<typeof SshLoginInput>;

export const BastionInput = z.strictObject({ address: Address, port: Port.default(22), user: User, login: SshLoginInput });
export type BastionInput = z.infer<typeof BastionInput>;

/** POST /api/v1/ssh-hosts: add a host managed over SSH. */
export const AddSshHostRequest = z.strictObject({
  hostname: Hostname,
  address: Address,
  port: Port.default(22),
  user: User,
  login: SshLoginInput,
  bastion: BastionInput.optional(),
  labels: LabelMap.optional(),
  /** The fingerprint the host must present; without it the first key seen is pinned (shown in the reply). */
  hostKey: HostKeyFingerprint.optional(),
});
export type AddSshHostRequest = z.infer<typeof AddSshHostRequest>;

/** POST /api/v1/ssh-hosts/probe: the key a host presents, before anything is stored (the dashboard shows it to confirm). */
export const ProbeSshHostRequest = z.strictObject({
  address: Address,
  port: Port.default(22),
  bastion: BastionInput.optional(),
});
export type ProbeSshHostRequest = z.infer<typeof ProbeSshHostRequest>;
export interface ProbeSshHostResult {
  hostKey: { algorithm: string; fingerprint: string };
}

/** POST /api/v1/ssh-hosts/{node}/promote: install and start the agent over SSH with a one-time join token. */
export const PromoteRequest = z.strictObject({
  /** Run on the host when gpufleet-agent is missing; default: the server's --agent-install-command. */
  installCommand: z.string().min(1).max(4096).optional(),
  reason: z.string().max(500).optional(),
  /** How long the whole promote may take, the agent's first session included (default 5m). */
  timeout: DurationText.optional(),
});
export type PromoteRequest = z.infer<typeof PromoteRequest>;
/** The steps of a promote, in order; a failure names the one that failed. */
export const PROMOTE_STEPS = ['token', 'agent-check', 'install', 'node-key', 'join', 'start', 'session', 'finish'] as const;
export type PromoteStep = (typeof PROMOTE_STEPS)[number];
export interface PromoteStepView {
  step: PromoteStep;
  /** What happened, one line (e.g. "gpufleet-agent 0.12.0 found", "installed with the server's default command"). */
  detail: string;
  tookMs: number;
}
export interface PromoteResult {
  nodeId: string;
  hostname: string;
  mode: NodeMode;
  /** How long from the request to the agent's session. */
  tookMs: number;
  steps: PromoteStepView[];
}

export interface RotateCredentialsResult {
  /** SSH credentials sealed again under the current master key. */
  rotated: number;
  keyVersion: number;
  /**
   * The control plane's own sealed records (its key, the shared TLS CA, the online release
   * keys): re-sealed now from the previous key, already under the current one, and the ids
   * neither key opens (keep GPUFLEET_MASTER_KEY_PREVIOUS until that list is empty, or restore them).
   */
  sealedRecords: { resealed: number; current: number; unopenable: string[] };
}

/** POST /api/v1/ssh-hosts/{node}/trust-host-key: accept the changed key the host now presents. */
export const TrustHostKeyRequest = z.strictObject({ fingerprint: HostKeyFingerprint, reason: z.string().min(1).max(500) });
export type TrustHostKeyRequest = z.infer<typeof TrustHostKeyRequest>;

export interface HostKeyView {
  algorithm: string;
  fingerprint: string;
  pinnedAt: string;
  source: 'first-use' | 'given' | 'operator';
}

/** An SSH host's connection details and contact state. Never a credential. */
export interface SshHostView {
  nodeId: string;
  hostname: string;
  address: string;
  port: number;
  user: string;
  /** `user@address:port` of the jump host, or null. */
  bastion: string | null;
  loginKind: 'key' | 'password';
  hostKey: HostKeyView | null;
  /** A different key the host presented and that was refused, until an operator trusts it. */
  refusedHostKey: { algorithm: string; fingerprint: string; seenAt: string } | null;
  reachable: boolean;
  lastContactAt: string | null;
  /** Why the last contact failed (unreachable, login refused, host key changed); null after a success. */
  lastError: string | null;
  factsAt: string | null;
  credentialKeyVersion: number;
}

/** The reply to an add: the host and the key that was pinned. */
export interface AddSshHostResult {
  host: SshHostView;
  pinnedNow: boolean;
}

// ---- groups and variables ----

const GroupName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'a group name: a letter or _, then letters, digits, _ or -');
export const VarName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name as Ansible accepts it: a letter or _, then letters, digits or _');
/** A variable's value: what YAML/JSON can say, bounded. */
export const VarValue = z.union([z.string().max(65_536), z.number(), z.boolean(), z.null(), z.array(z.unknown()).max(1000), z.record(z.string(), z.unknown())]);

export const CreateGroupRequest = z.strictObject({
  name: GroupName,
  description: z.string().max(500).optional(),
  /** Higher wins when two groups set the same variable. */
  priority: z.number().int().min(-1000).max(1000).default(0),
  /** Members by label selector (the CLI's syntax), and/or by node reference. */
  selector: z.string().max(1000).optional(),
  members: z.array(z.string().min(1).max(253)).max(10_000).optional(),
});
export type CreateGroupRequest = z.infer<typeof CreateGroupRequest>;

export const UpdateGroupRequest = z.strictObject({
  description: z.string().max(500).optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  selector: z.string().max(1000).nullable().optional(),
  add: z.array(z.string().min(1).max(253)).max(10_000).optional(),
  remove: z.array(z.string().min(1).max(253)).max(10_000).optional(),
});
export type UpdateGroupRequest = z.infer<typeof UpdateGroupRequest>;

export interface GroupView {
  name: string;
  description: string;
  priority: number;
  selector: string | null;
  /** Node ids listed by hand. */
  members: string[];
  /** Every node in the group now (static members and selector matches), by hostname. */
  nodes: { id: string; hostname: string }[];
  vars: Record<string, unknown>;
  createdAt: string;
}

export const VAR_SCOPES = ['global', 'group', 'node'] as const;
export type VarScope = (typeof VAR_SCOPES)[number];

/** PUT /api/v1/vars: set or remove variables of one scope. */
export const SetVarsRequest = z.strictObject({
  scope: z.enum(VAR_SCOPES),
  /** The group name or node reference; absent for global. */
  target: z.string().min(1).max(253).optional(),
  set: z.record(VarName, VarValue).optional(),
  remove: z.array(VarName).max(1000).optional(),
});
export type SetVarsRequest = z.infer<typeof SetVarsRequest>;

export interface VarsView {
  scope: VarScope;
  target: string | null;
  vars: Record<string, unknown>;
  updatedAt: string | null;
}

/** Where a merged value came from: global < groups by priority < node < run's extra vars. */
export interface VarOrigin {
  scope: VarScope | 'extra';
  /** The group or node that set it; null for global and extra. */
  source: string | null;
  /** Values it overrode, lowest first. */
  overrides: { scope: VarScope; source: string | null; value: unknown }[];
}

export interface ResolvedVarsView {
  nodeId: string;
  hostname: string;
  groups: { name: string; priority: number }[];
  vars: Record<string, { value: unknown; origin: VarOrigin }>;
}

// ---- templates and plays ----

export const TEMPLATE_CATEGORIES = ['facts', 'check', 'driver', 'monitoring', 'custom'] as const;
export type TemplateCategory = (typeof TEMPLATE_CATEGORIES)[number];

const TemplateName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, 'a template name: lower case letters, digits and _');

/** POST /api/v1/templates: a custom template (a new version when the name exists). */
export const AddTemplateRequest = z.strictObject({
  name: TemplateName,
  description: z.string().max(500).optional(),
  category: z.enum(TEMPLATE_CATEGORIES).default('custom'),
  playbook: z.string().min(1).max(1_048_576),
  become: z.boolean().default(false),
  timeout: z.string().max(16).optional(),
  vars: z.record(VarName, VarValue).optional(),
});
export type AddTemplateRequest = z.infer<typeof AddTemplateRequest>;

export interface TemplateView {
  name: string;
  version: number;
  description: string;
  category: TemplateCategory;
  builtin: boolean;
  become: boolean;
  timeoutMs: number;
  /** Defaults a run may override. */
  vars: Record<string, unknown>;
  sha256: string;
  createdAt: string;
  createdBy: string;
}

export interface TemplateDetailView extends TemplateView {
  playbook: string;
  versions: number[];
}

export const PLAY_STATES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'] as const;
export type PlayState = (typeof PLAY_STATES)[number];

/** POST /api/v1/plays: run a template on the hosts a selector picks. */
export const StartPlayRequest = z.strictObject({
  template: TemplateName,
  version: z.number().int().positive().optional(),
  /** The CLI's selector syntax; `group=NAME` picks a group's nodes. */
  selector: z.string().min(1).max(1000),
  /** Rolling batches: a count (`5`) or a share of the hosts (`25%`). */
  serial: z
    .string()
    .regex(/^([1-9][0-9]{0,5}|([1-9][0-9]?|100)%)$/, 'a number of hosts (5) or a share of them (25%)')
    .optional(),
  /** Stop the play once more than this share of a batch failed (Ansible's max_fail_percentage). */
  maxFailPercentage: z.number().int().min(0).max(100).optional(),
  extraVars: z.record(VarName, VarValue).optional(),
  /** Ansible's --check: report what would change, change nothing. */
  check: z.boolean().default(false),
  timeout: z.string().max(16).optional(),
  reason: z.string().max(500).optional(),
  /**
   * The agent hosts' parts, one operator-signed `exec/run` shell command per agent host the
   * selector picks (see PlayPlanView and localPlayScript). Without them a play runs on its SSH
   * hosts only and names the agent hosts it left out.
   */
  agentCommands: z.array(SignedCommand).max(10_000).optional(),
});
export type StartPlayRequest = z.infer<typeof StartPlayRequest>;

/** An agent host's part of a planned play: what the CLI renders with localPlayScript and signs. */
export interface PlayPlanAgentHost {
  nodeId: string;
  /** The host's name in the play (its hostname, made unique). */
  hostname: string;
  /** The selector to sign (localPlayTarget): the host checks it against its own labels. */
  target: string;
  groups: string[];
  vars: Record<string, unknown>;
  /** Variables the server leaves out (they would change how Ansible connects), with a note each. */
  notes: string[];
}

/** POST /api/v1/plays/plan: who a play would run on, and everything the agent hosts' parts are made of. */
export interface PlayPlanView {
  template: { name: string; version: number; sha256: string; playbook: string; become: boolean; vars: Record<string, unknown> };
  ssh: { nodeId: string; hostname: string }[];
  agents: PlayPlanAgentHost[];
  extraVars: Record<string, unknown>;
  check: boolean;
  timeoutMs: number;
}

export interface PlayHostStats {
  hostname: string;
  nodeId: string;
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
  /** pending until its batch starts; then running; then ok, failed or unreachable. */
  state: 'pending' | 'running' | 'ok' | 'failed' | 'unreachable';
}

export interface PlayView {
  id: string;
  template: string;
  templateVersion: number;
  selector: string;
  serial: string | null;
  check: boolean;
  state: PlayState;
  hosts: PlayHostStats[];
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  error: string | null;
  reason: string | null;
}

/** One line of a play's live log: a task starting, a host's result, a play recap, or ansible's own output. */
export interface PlayEventView {
  seq: number;
  at: string;
  kind: 'play' | 'task' | 'host' | 'recap' | 'output' | 'state';
  /** For host results. */
  host: string | null;
  task: string | null;
  status: 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped' | null;
  message: string;
}
