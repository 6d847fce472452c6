import type { Principal } from '../auth/api-tokens.js';

/** How a person or program appears in state changes and the timeline (the audit log's spelling). */
export function actorOf(principal: Principal | null | undefined): string {
  return principal ? `token:${principal.name}(${principal.tokenId})` : 'anonymous';
}

/** The actor of changes the health policy makes: `health:<rule>`. */
export function policyActor(rule: string): string {
  return `health:${rule}`;
}

/** Whether a state was set by the health policy (and may be undone by it). */
export function isPolicyActor(actor: string): boolean {
  return actor.startsWith('health:');
}
