// The REST shapes of the job center, as types only: job-center.ts holds zod schemas too, and a
// type-only import is erased, so none of it reaches the browser bundle.
import type { PlayEventView, PlayState, PlayView } from '../../../protocol/src/job-center.js';
export type {
  AddSshHostRequest,
  AddSshHostResult,
  GroupView,
  PlayEventView,
  PlayHostStats,
  PlayState,
  PlayView,
  ProbeSshHostResult,
  ResolvedVarsView,
  SshHostView,
  TemplateDetailView,
  TemplateView,
  VarOrigin,
  VarsView,
} from '../../../protocol/src/job-center.js';

/*
 * What the job center's pages need beyond the raw views: paths, the few checks made before a
 * request is sent (the server checks again; its refusal is shown), values typed as YAML
 * scalars the way the CLI reads `k=v`, and merging a play's log as it arrives.
 */

const enc = encodeURIComponent;
export const sshHostApiPath = (node: string) => `/api/v1/ssh-hosts/${enc(node)}`;
export const groupApiPath = (name: string) => `/api/v1/groups/${enc(name)}`;
export const groupPagePath = (name: string) => `/groups/${enc(name)}`;
export const nodeVarsPagePath = (id: string) => `/nodes/${enc(id)}/vars`;
export const templateApiPath = (name: string) => `/api/v1/templates/${enc(name)}`;
export const templatePagePath = (name: string) => `/plays/templates/${enc(name)}`;
export const playApiPath = (id: string) => `/api/v1/plays/${enc(id)}`;
export const playPagePath = (id: string) => `/plays/${enc(id)}`;

/** The command that checks a host's key on the host itself (what the wizard asks to compare). */
export const HOST_KEY_CHECK_COMMAND = 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub';

/** A TCP port typed in a form: a whole number 1..65535, or why not. */
export function parsePort(text: string): { ok: true; port: number } | { ok: false; error: string } {
  const t = text.trim();
  if (!/^\d{1,5}$/.test(t)) return { ok: false, error: `Port: "${t.slice(0, 12)}" is not a port number (1-65535)` };
  const port = Number(t);
  if (port < 1 || port > 65535) return { ok: false, error: `Port: ${port} is outside 1-65535` };
  return { ok: true, port };
}

/** `user@address[:port]` as typed for a bastion, or why not. */
export function parseUserAtHost(text: string): { ok: true; user: string; address: string; port: number } | { ok: false; error: string } {
  const m = /^([^@\s]+)@([^:\s]+)(?::(\S+))?$/.exec(text.trim());
  if (!m) return { ok: false, error: 'Bastion: write it as user@host or user@host:port' };
  if (m[3] === undefined) return { ok: true, user: m[1]!, address: m[2]!, port: 22 };
  const port = parsePort(m[3]);
  return port.ok ? { ok: true, user: m[1]!, address: m[2]!, port: port.port } : { ok: false, error: `Bastion ${port.error}` };
}

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
const TRUES = new Set(['true', 'True', 'TRUE']);
const FALSES = new Set(['false', 'False', 'FALSE']);

/**
 * A value typed after `k=` read as a YAML 1.2 core-schema scalar, as the CLI's `vars set` reads
 * it: `550` a number, `true` a boolean, `~` null, `"550"` or `'550'` the string, anything else
 * the text itself. A list or map is written as JSON (`[1, 2]`, `{"a": 1}`).
 */
export function parseYamlScalar(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  const t = text.trim();
  if (NULLS.has(t)) return { ok: true, value: null };
  if (TRUES.has(t)) return { ok: true, value: true };
  if (FALSES.has(t)) return { ok: true, value: false };
  if (/^[-+]?[0-9]+$/.test(t)) return finite(Number(t));
  if (/^0o[0-7]+$/.test(t)) return finite(Number.parseInt(t.slice(2), 8));
  if (/^0x[0-9a-fA-F]+$/.test(t)) return finite(Number.parseInt(t.slice(2), 16));
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(t)) return finite(Number(t));
  if (/^[-+]?\.(inf|Inf|INF)$/.test(t) || /^\.(nan|NaN|NAN)$/.test(t)) return { ok: false, error: `${t} is not a number JSON can carry` };
  if (t.startsWith('"')) {
    try {
      const s: unknown = JSON.parse(t);
      if (typeof s === 'string') return { ok: true, value: s };
    } catch {
      // Falls through to the message below.
    }
    return { ok: false, error: `${t.slice(0, 30)} is not a closed "quoted" string` };
  }
  if (t.startsWith("'")) {
    if (t.length < 2 || !t.endsWith("'") || t.slice(1, -1).replace(/''/g, '').includes("'"))
      return { ok: false, error: `${t.slice(0, 30)} is not a closed 'quoted' string` };
    return { ok: true, value: t.slice(1, -1).replace(/''/g, "'") };
  }
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      return { ok: true, value: JSON.parse(t) as unknown };
    } catch {
      return { ok: false, error: `${t.slice(0, 30)} is not a JSON list or map` };
    }
  }
  return { ok: true, value: t };
}

function finite(n: number): { ok: true; value: number } | { ok: false; error: string } {
  return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, error: `${n} is too large a number` };
}

/** Ansible's variable names (protocol VarName). */
export function isVarName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name);
}

/** `k=v` lines (or `k=v` separated by blanks on one line) read into variables, or the first problem. */
export function parseVarsText(text: string): { ok: true; vars: Record<string, unknown> } | { ok: false; error: string } {
  const vars: Record<string, unknown> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { ok: false, error: `"${line.slice(0, 30)}" is not name=value` };
    const name = line.slice(0, eq).trim();
    if (!isVarName(name)) return { ok: false, error: `"${name.slice(0, 30)}" is not a variable name (a letter or _, then letters, digits or _)` };
    if (name in vars) return { ok: false, error: `${name} is given twice` };
    const value = parseYamlScalar(line.slice(eq + 1));
    if (!value.ok) return { ok: false, error: `${name}: ${value.error}` };
    vars[name] = value.value;
  }
  return { ok: true, vars };
}

/** A variable's value as people read it: strings bare, anything else as JSON. */
export function varText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A value as it would be typed back after `k=` (strings that read as something else get quoted). */
export function varInput(value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value);
  const back = parseYamlScalar(value);
  return back.ok && back.value === value && value.trim() === value ? value : JSON.stringify(value);
}

/** Whether a play is over (its stream ends and Cancel goes). */
export function playIsOver(state: PlayState): boolean {
  return state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELED';
}

/** How many lines of a play's log the page keeps. */
export const PLAY_LOG_KEPT = 5000;

/** Newer log lines merged into the ones held: each seq once, in order, the last `keep`. */
export function mergePlayEvents(held: readonly PlayEventView[], more: readonly PlayEventView[], keep = PLAY_LOG_KEPT): PlayEventView[] {
  if (more.length === 0) return held as PlayEventView[];
  const bySeq = new Map<number, PlayEventView>();
  for (const e of held) bySeq.set(e.seq, e);
  for (const e of more) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq).slice(-keep);
}

/** Hosts of a play by outcome: `3 ok, 1 failed` style counts. */
export function playHostCounts(p: Pick<PlayView, 'hosts'>): { ok: number; failed: number; total: number } {
  let ok = 0;
  let failed = 0;
  for (const h of p.hosts) {
    if (h.state === 'ok') ok++;
    else if (h.state === 'failed' || h.state === 'unreachable') failed++;
  }
  return { ok, failed, total: p.hosts.length };
}

/** A shell word quoted only when it must be (for the `gpufleet` commands the pages show). */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
