import { FleetError, type Verdict } from '@gpufleet/protocol';

/**
 * A refused verdict as a domain error: a malformed value is invalid_argument, anything about
 * who signed it or what it allows is permission_denied. `details.reason` keeps the refusal
 * reason for clients and tests.
 */
export function verdictError(what: string, verdict: Extract<Verdict, { ok: false }>): FleetError {
  const code = verdict.reason === 'malformed' ? 'invalid_argument' : 'permission_denied';
  return new FleetError(code, `${what} refused (${verdict.reason}): ${verdict.message}`, { details: { reason: verdict.reason } });
}

/** The first zod issue as `path: message`. */
export function firstIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid';
}
