import { FleetError } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { PlayRunnerLink } from '../replicas/play-runners.js';
import type { PlayRecord, Store } from '../store/store.js';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);

/** Why a play whose runner is gone ended; plays stored before runners were recorded had one control plane. */
export function orphanError(play: PlayRecord): string {
  const running = play.state === 'RUNNING';
  if (play.runner === null) return running ? 'the control plane restarted during the play' : 'the control plane restarted before the play started';
  return running
    ? `the replica running the play (${play.runner.replica}) stopped during it; its ansible-playbook cannot go on elsewhere`
    : `the replica the play was queued on (${play.runner.replica}) stopped before it started`;
}

/**
 * Ends a play whose runner instance is gone: FAILED with why, and hosts it left running failed
 * (they did not finish their tasks, as far as anyone can tell). Only while the play is still
 * unfinished and still recorded to that instance, so a runner that was only slow and writes its
 * own end first wins, and two survivors never both end it. True when this call ended it.
 */
export async function endOrphanPlay(store: Store, clock: Clock, play: PlayRecord): Promise<boolean> {
  const ended = await store.updatePlayWhile(
    play.id,
    { states: ['PENDING', 'RUNNING'], runnerInstance: play.runner?.instance ?? null },
    { state: 'FAILED', endedAt: clock.now(), error: orphanError(play) },
  );
  if (!ended) return false;
  for (const host of await store.listPlayHosts(play.id)) {
    if (host.state === 'running') await store.updatePlayHost({ ...host, state: 'failed' });
  }
  return true;
}

export interface OrphanSweep {
  store: Store;
  clock: Clock;
  runners: PlayRunnerLink;
  /** The executions running here, by play id. */
  active: ReadonlyMap<string, { readonly finishing: boolean; stop(reason: 'shutdown'): void }>;
  onError: (err: unknown) => void;
}

/**
 * Ends the unfinished plays whose runner instance is not alive, and stops the executions here
 * whose play another replica ended meanwhile (this one was taken for dead: a pause longer than
 * its directory entry lives), so a play never runs on after its record ended. Returns how many
 * plays it ended.
 */
export async function endOrphanPlays(o: OrphanSweep): Promise<number> {
  const self = o.runners.self;
  const unfinished = new Set<string>();
  let ended = 0;
  for (const state of ['RUNNING', 'PENDING'] as const) {
    for (const p of await o.store.listPlays({ state, limit: 10_000 })) {
      if (p.runner?.instance === self.instance) {
        unfinished.add(p.id);
        continue;
      }
      if (p.runner !== null && o.runners.isAlive(p.runner)) continue;
      if (await endOrphanPlay(o.store, o.clock, p)) ended++;
    }
  }
  for (const [id, exec] of o.active) {
    if (unfinished.has(id) || exec.finishing) continue;
    const now = await o.store.getPlay(id);
    if (exec.finishing || (now && now.runner?.instance === self.instance && !TERMINAL.has(now.state))) continue;
    o.onError(new FleetError('conflict', `play ${id} was ended by another replica while this one ran it; its ansible-playbook is stopped`));
    exec.stop('shutdown');
  }
  return ended;
}
