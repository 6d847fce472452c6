import { setTimeout as sleep } from 'node:timers/promises';
import { FleetError } from '@gpufleet/protocol';
import type { PlayRecord, PlayRunner, Store } from '../store/store.js';
import type { PlayRunnerLink } from '../replicas/play-runners.js';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);

export interface CancelElsewhereOptions {
  store: Store;
  runners: PlayRunnerLink;
  play: PlayRecord & { runner: PlayRunner };
  /** How long the runner gets to end the play (its ansible-playbook gets a grace after SIGINT). */
  waitMs: number;
  /** The runner died while we waited: the play is ended as its orphan. */
  endOrphan: (play: PlayRecord) => Promise<unknown>;
  /** How often the cancel is asked again (core bus: at most once) and the store read (defaults 2 s, 200 ms). */
  askEveryMs?: number;
  pollMs?: number;
}

/**
 * Cancels a play another live replica runs: only that replica can stop its ansible-playbook, so it
 * is asked over the bus (again every `askEveryMs`: a message may be lost) until the play's record
 * is finished, whoever finished it. Resolves with the record as it ended; 'unavailable' when the
 * runner neither ended it nor died within `waitMs`.
 */
export async function cancelElsewhere(o: CancelElsewhereOptions): Promise<PlayRecord> {
  const { play, runners } = o;
  const started = performance.now();
  let askedAt = Number.NEGATIVE_INFINITY;
  for (;;) {
    if (performance.now() - askedAt >= (o.askEveryMs ?? 2000)) {
      runners.askCancel(play.runner, play.id);
      askedAt = performance.now();
    }
    await sleep(o.pollMs ?? 200);
    const now = await o.store.getPlay(play.id);
    if (!now) throw new FleetError('not_found', `no play ${play.id}`);
    if (TERMINAL.has(now.state)) return now;
    if (!runners.isAlive(play.runner)) {
      await o.endOrphan(now);
      return (await o.store.getPlay(play.id)) ?? now;
    }
    if (performance.now() - started > o.waitMs)
      throw new FleetError(
        'unavailable',
        `replica ${play.runner.replica}, which runs play ${play.id}, did not end it within ${Math.round(o.waitMs / 1000)} s of the cancel; try again`,
      );
  }
}
