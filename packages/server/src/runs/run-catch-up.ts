import type { AgentEventRecord, Store } from '../store/store.js';
import type { ActiveRun } from './active-run.js';
import { isRunEventKind, runIdOf } from './host-reports.js';

export interface CatchUpDeps {
  store: Pick<Store, 'listAgentEvents'>;
  log: { warn(obj: object, msg: string): void };
  /** Applies one stored report as if the host had just sent it. */
  apply(event: AgentEventRecord): void;
}

/**
 * Reports the host made that this server has not applied: with replicas, a host's session may
 * have been held by another replica that stored and acknowledged a report and then died before
 * passing it on. They are in the store; applying one again changes nothing (host-reports.ts),
 * so every stored report of the open runs is applied, oldest first.
 */
export async function catchUp(d: CatchUpDeps, nodeId: string, runs: ActiveRun[]): Promise<void> {
  // Agent timestamps may run a little behind ours: five minutes of slack.
  const since = Math.min(...runs.map((r) => r.record.createdAt)) - 300_000;
  try {
    const events = await d.store.listAgentEvents({ nodeId, since, limit: 10_000 });
    const wanted = new Set(runs.map((r) => r.id));
    for (const event of events.reverse()) if (isRunEventKind(event.kind) && wanted.has(runIdOf(event) ?? '')) d.apply(event);
  } catch (err) {
    d.log.warn({ nodeId, err: (err as Error).message }, 'could not read the stored run reports of a host that came back');
  }
}
