import { randomBytes } from 'node:crypto';
import {
  ROLLOUT_ABILITY,
  RolloutPlan,
  parseDurationMs,
  parseReleaseRef,
  releaseRefText,
  signRollout,
  type Capability,
  type ReleaseList,
  type ReleaseRef,
  type SignedRollout,
} from '@gpufleet/protocol';
import { CliError, UsageError } from '../errors.js';
import type { OperatorKey } from '../keys/index.js';

/** What `rollouts start` takes on its command line, as given. */
export interface RolloutFlags {
  selector?: string;
  canary: string;
  waves: string;
  healthyFor: string;
  maxFailures: string;
}

export function parseRelease(text: string): ReleaseRef {
  const ref = parseReleaseRef(text);
  if (!ref) throw new UsageError(`'${text}' is not a release: write agent@VERSION (e.g. agent@0.3.0) or BUNDLE@VERSION (e.g. inference@12)`);
  return ref;
}

function wholeNumber(flag: string, text: string): number {
  if (!/^\d{1,9}$/.test(text.trim())) throw new UsageError(`${flag} '${text}' must be a whole number, e.g. ${flag} 2`);
  return Number(text);
}

/** The plan from the flags, checked here so a typo is a usage error before the key is unlocked. */
export function parsePlan(f: RolloutFlags): RolloutPlan {
  const waves = f.waves.split(',').map((w) => {
    const m = /^\s*(\d{1,3})\s*%?\s*$/.exec(w);
    if (!m) throw new UsageError(`--waves '${f.waves}': '${w}' is not a percentage; write ascending shares ending at 100, e.g. 10%,50%,100%`);
    return Number(m[1]);
  });
  let healthyForMs: number;
  try {
    healthyForMs = parseDurationMs(f.healthyFor);
  } catch {
    throw new UsageError(`--healthy-for '${f.healthyFor}' is not a duration such as 30s, 10m or 1h`);
  }
  const parsed = RolloutPlan.safeParse({
    canary: wholeNumber('--canary', f.canary),
    waves,
    healthyForMs,
    maxFailures: wholeNumber('--max-failures', f.maxFailures),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const flag = { canary: '--canary', waves: '--waves', healthyForMs: '--healthy-for', maxFailures: '--max-failures' }[String(issue.path[0])] ?? 'plan';
    throw new UsageError(`${flag}: ${issue.message}`);
  }
  return parsed.data;
}

/** The published target of a release, as the server's repository lists it. */
export function publishedTarget(list: ReleaseList, ref: ReleaseRef): { path: string; sha256: string } {
  const found = list.items.find((r) => r.kind === ref.kind && r.name === ref.name && r.version === ref.version);
  if (!found) throw new CliError(`${releaseRefText(ref)} is not published on this server (gpufleet releases ls)`);
  return { path: found.path, sha256: found.sha256 };
}

/**
 * Signs a rollout with the operator's key, as `jobs run` signs a job: issued now, a fresh nonce,
 * the key's DID as invoker and the operator's capability (null for a fleet root), which must be
 * theirs and grant release/rollout.
 */
export function signRolloutPlan(
  input: { release: ReleaseRef; target: { path: string; sha256: string }; selector: string; plan: RolloutPlan },
  key: Pick<OperatorKey, 'did' | 'privateKeyPem'>,
  capability: Capability | null,
  now: number,
  capFile = '',
): SignedRollout {
  if (capability) {
    const named = capFile ? `--cap ${capFile}` : 'your capability';
    if (capability.aud !== key.did) throw new UsageError(`${named} was granted to ${capability.aud}, not to your key ${key.did}`);
    if (!capability.can.includes(ROLLOUT_ABILITY) && !capability.can.includes('*'))
      throw new UsageError(`${named} grants ${capability.can.join(', ')}, not ${ROLLOUT_ABILITY}: hosts would refuse the rollout`);
  }
  return signRollout(
    {
      v: 1,
      release: input.release,
      target: input.target,
      selector: input.selector,
      plan: input.plan,
      issuedAt: now,
      nonce: randomBytes(16).toString('hex'),
      invoker: key.did,
      capability,
    },
    key.privateKeyPem,
  );
}
