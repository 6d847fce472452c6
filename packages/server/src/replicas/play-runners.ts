import type { Bus } from '../bus/bus.js';
import { subjects } from '../bus/subjects.js';
import type { PlayRunner } from '../store/store.js';

/**
 * Which replica instance runs each play (issue 13), as the play service sees it: the instance
 * recorded on a play it starts, whether the instance recorded on another play is still alive,
 * and cancels carried to that instance. A play's ansible-playbook runs as a child of one replica
 * process and cannot move, so a play lives exactly as long as its runner: a survivor ends the
 * plays of an instance whose directory entry lapsed (the same rule as run followers and
 * session claims).
 */
export interface PlayRunnerLink {
  /** This replica instance: the runner of the plays it starts. */
  readonly self: PlayRunner;
  /** Whether an instance is alive (its entry in the replica directory was there at the last read). */
  isAlive(runner: PlayRunner): boolean;
  /** Asks the runner to cancel a play; at most once, so the asker repeats until the play ends. */
  askCancel(runner: PlayRunner, playId: string): void;
  /** Cancels the other replicas ask of this instance. Resolves once listening; returns stop. */
  onCancel(handler: (playId: string) => void): Promise<() => void>;
}

export interface PlayRunnersOptions {
  bus: Bus;
  replica: string;
  instance: string;
  directory: { isAlive(name: string, instance: string): boolean };
  log: { warn(obj: object, msg: string): void };
}

export class PlayRunners implements PlayRunnerLink {
  readonly self: PlayRunner;

  constructor(private readonly o: PlayRunnersOptions) {
    this.self = { replica: o.replica, instance: o.instance };
  }

  isAlive(runner: PlayRunner): boolean {
    return this.o.directory.isAlive(runner.replica, runner.instance);
  }

  askCancel(runner: PlayRunner, playId: string): void {
    try {
      this.o.bus.publish(subjects.playCancels(runner.instance), { playId });
    } catch (err) {
      // A closed bus while stopping: the asker's next try or its timeout says so.
      this.o.log.warn({ playId, err: (err as Error).message }, 'could not ask the replica running a play to cancel it');
    }
  }

  onCancel(handler: (playId: string) => void): Promise<() => void> {
    return this.o.bus.subscribe(subjects.playCancels(this.o.instance), (msg) => {
      let playId: unknown;
      try {
        playId = msg.json<{ playId?: unknown }>().playId;
      } catch {
        playId = undefined;
      }
      if (typeof playId !== 'string' || playId === '') {
        this.o.log.warn({ subject: msg.subject }, 'a play cancel without a play id was ignored');
        return;
      }
      handler(playId);
    });
  }
}
