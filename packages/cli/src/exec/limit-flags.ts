import { CapabilityLimits, limitsNarrowProblem, type Capability } from '@gpufleet/protocol';
import { UsageError } from '../errors.js';

/** The `caps grant` flags that constrain how authorized commands run. */
export interface LimitFlags {
  runAs?: string[];
  envAllow?: string[];
  envNone?: boolean;
  cwdAllow?: string[];
  scripts?: string;
}

/** Comma-separated, repeatable flag values as one list; empty words are garbage. */
function words(flag: string, lists: readonly string[]): string[] {
  const all = lists.flatMap((l) => l.split(','));
  const trimmed = all.map((w) => w.trim());
  if (trimmed.some((w) => w === '')) throw new UsageError(`${flag} has an empty entry: give comma-separated values such as ${flag} a,b`);
  return [...new Set(trimmed)];
}

/**
 * The limits a new capability carries: the parent's (with --from-cap) unless a flag replaces one,
 * each checked for shape (CapabilityLimits) and, under a parent, for narrowing it (a host would
 * refuse a broader child as not_attenuated). Undefined when there are none.
 */
export function limitsFromFlags(o: LimitFlags, parent: Capability | null): CapabilityLimits | undefined {
  if (o.envNone && o.envAllow !== undefined) throw new UsageError('give --env-allow or --env-none, not both');
  const limits: CapabilityLimits = { ...(parent?.limits ?? {}) };
  if (o.runAs !== undefined) limits.runAs = words('--run-as', o.runAs);
  if (o.envAllow !== undefined) limits.env = words('--env-allow', o.envAllow);
  if (o.envNone) limits.env = [];
  if (o.cwdAllow !== undefined) limits.cwd = words('--cwd-allow', o.cwdAllow);
  if (o.scripts !== undefined) {
    if (o.scripts !== 'root-signed')
      throw new UsageError(`--scripts '${o.scripts}' is not known: the one choice is 'root-signed' (only scripts a fleet root signed)`);
    limits.scripts = 'root-signed';
  }
  const parsed = CapabilityLimits.safeParse(limits);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = { runAs: '--run-as', env: '--env-allow', cwd: '--cwd-allow', scripts: '--scripts' }[String(issue?.path[0]) as 'runAs'] ?? 'a limit';
    throw new UsageError(
      `${flag}: ${issue?.message ?? 'invalid'}${issue && issue.path.length > 1 ? ` ('${String((limits as Record<string, unknown[]>)[String(issue.path[0])]?.[Number(issue.path[1])])}')` : ''}`,
    );
  }
  if (parent) {
    const problem = limitsNarrowProblem(parsed.data, parent.limits);
    if (problem !== null) throw new UsageError(`the new capability ${problem}: a delegation may only narrow the limits of --from-cap`);
  }
  return Object.keys(parsed.data).length > 0 ? parsed.data : undefined;
}

/** One line saying what the limits allow, for the grant summary. */
export function describeLimits(limits: CapabilityLimits | undefined): string {
  if (!limits) return '';
  const parts: string[] = [];
  if (limits.runAs) parts.push(`run as ${limits.runAs.join('|')}`);
  if (limits.env) parts.push(limits.env.length === 0 ? 'no env' : `env ${limits.env.join('|')}`);
  if (limits.cwd) parts.push(`cwd ${limits.cwd.join('|')}`);
  if (limits.scripts) parts.push('root-signed scripts only');
  return parts.length > 0 ? ` [${parts.join('; ')}]` : '';
}
