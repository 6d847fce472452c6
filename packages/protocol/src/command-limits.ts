import type { CapabilityLimitsShape } from './remote-ops.js';

/*
 * Capability limits: constraints on how the commands a capability authorizes may run (runAs,
 * env names, cwd, and who must have signed a library script). Pure: no zod, no node:crypto.
 *
 * Patterns are literal text where `*` matches any run of characters (`/` included), anchored at
 * both ends: `HF_*` allows HF_TOKEN, `/srv/jobs/*` allows anything below /srv/jobs (not
 * /srv/jobs itself), `ubuntu` allows exactly ubuntu.
 */

type Limits = CapabilityLimitsShape;

/** Whether `text` matches `pattern` (`*` matches any run of characters, including none). */
export function limitPatternMatches(pattern: string, text: string): boolean {
  return patternCovers(pattern, text, false);
}

/**
 * Whether every string `child` matches is matched by `parent`, checked soundly (never says yes
 * wrongly): the child's `*` may only be absorbed by a `*` of the parent, its literal
 * characters must meet literal characters or a parent `*`.
 */
export function limitPatternNarrows(child: string, parent: string): boolean {
  return patternCovers(parent, child, true);
}

/** Glob match of `pattern` over `text`; with `textStars`, a `*` in the text is a wildcard only a pattern `*` can take. */
function patternCovers(pattern: string, text: string, textStars: boolean): boolean {
  // Classic two-pointer glob match with backtracking to the last pattern star: linear-ish, no regex (no ReDoS).
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    const pc = pattern[p];
    const tc = text[t]!;
    if (p < pattern.length && pc !== '*' && pc === tc && !(textStars && tc === '*')) {
      p++;
      t++;
    } else if (p < pattern.length && pc === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Whether every pattern of `child` is covered by some pattern of `parent`; null when it is, else the first that is not. */
function listNarrows(child: readonly string[], parent: readonly string[]): string | null {
  return child.find((c) => !parent.some((q) => limitPatternNarrows(c, q))) ?? null;
}

/**
 * Why `child` does not narrow `parent`, or null when it does: every limit the parent sets is
 * kept by the child, with a list whose every pattern the parent's list covers. A child may add
 * limits its parent does not have.
 */
export function limitsNarrowProblem(child: Limits | undefined, parent: Limits | undefined): string | null {
  if (!parent) return null;
  const c = child ?? {};
  for (const key of ['runAs', 'env', 'cwd'] as const) {
    const p = parent[key];
    if (p === undefined) continue;
    const mine = c[key];
    if (mine === undefined) return `drops its parent's ${key} limit [${p.join(', ')}]`;
    const extra = listNarrows(mine, p);
    if (extra !== null) return `allows ${key} '${extra}', which its parent's [${p.join(', ')}] does not`;
  }
  if (parent.scripts === 'root-signed' && c.scripts !== 'root-signed') return `drops its parent's scripts: root-signed limit`;
  return null;
}

/** A POSIX path with no `.` or `..` segments, no empty segments and no trailing slash (except `/`). */
function isCleanAbsolutePath(path: string): boolean {
  if (!path.startsWith('/')) return false;
  if (path === '/') return true;
  return path
    .slice(1)
    .split('/')
    .every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** What a command asks for, as the limits see it. */
export interface LimitedCommand {
  runAs: string | null;
  env: Readonly<Record<string, string>>;
  cwd: string | null;
  /** For a library script: who signed the delivered script, and whether that key is a fleet root. */
  script?: { signer: string; byRoot: boolean } | null;
}

/**
 * Why a command breaks `limits`, or null when it keeps them. `agentUser` is the account a
 * command with no runAs runs under (the agent's own); without it such a command is refused
 * under a runAs limit. Under a cwd limit the command must name a clean absolute directory
 * (no `..`, which could climb out of an allowed prefix); the default (the user's home) is refused.
 */
export function commandLimitProblem(cmd: LimitedCommand, limits: Limits | undefined, agentUser?: string): string | null {
  if (!limits) return null;
  if (limits.runAs !== undefined) {
    const who = cmd.runAs ?? agentUser;
    if (who === undefined) return `the command names no runAs and this host cannot tell its own account; allowed: [${limits.runAs.join(', ')}]`;
    if (!limits.runAs.some((p) => limitPatternMatches(p, who))) {
      return `runAs '${who}'${cmd.runAs === null ? " (the agent's own account, as no runAs was given)" : ''} is not among the allowed [${limits.runAs.join(', ')}]`;
    }
  }
  if (limits.env !== undefined) {
    const allowed = limits.env;
    const bad = Object.keys(cmd.env).filter((name) => !allowed.some((p) => limitPatternMatches(p, name)));
    if (bad.length > 0)
      return `env ${bad.map((n) => `'${n}'`).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not among the allowed names [${allowed.join(', ')}]`;
  }
  if (limits.cwd !== undefined) {
    if (cmd.cwd === null) return `the command must name its cwd, one of [${limits.cwd.join(', ')}]`;
    if (!isCleanAbsolutePath(cmd.cwd)) return `cwd '${cmd.cwd}' must be an absolute path without '.', '..' or empty segments`;
    const cwd = cmd.cwd;
    if (!limits.cwd.some((p) => limitPatternMatches(p, cwd))) return `cwd '${cwd}' is not among the allowed [${limits.cwd.join(', ')}]`;
  }
  if (limits.scripts === 'root-signed' && cmd.script && !cmd.script.byRoot) {
    return `only scripts signed by a fleet root may run with this capability, and this one is signed by ${cmd.script.signer}`;
  }
  return null;
}
