import type { ServerFrame } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { RunTargetRecord } from '../store/store.js';
import type { ActiveRun } from './active-run.js';
import { FINAL_STATES } from './run-outcome.js';
import type { RunWriter } from './run-writer.js';

/** Where frames go: the agent gateway, or a fake in tests. */
export interface FrameSender {
  /** False when the node has no live session. */
  sendToNode(nodeId: string, frame: ServerFrame): boolean;
  /** The same, for a frame already serialised to JSON (one command to many nodes). */
  sendSerialized(nodeId: string, text: string): boolean;
}

export interface SchedulerDeps {
  gateway: FrameSender;
  hub: EventHub;
  clock: Clock;
  writer: RunWriter;
  /**
   * Why this target must not get the command now, or null: asked right before every first send,
   * so a node whose labels changed (or that was removed) since the submit never receives the
   * command and the env values in it.
   */
  targetProblem: (run: ActiveRun, nodeId: string) => string | null;
}

/**
 * Rolls runs out: sends the command to the next hosts of the current batch while slots are free,
 * moves to the next batch when one is over, re-delivers to hosts that reconnect, stops a run
 * (cancel, failure threshold, deadline) and finishes it once every target is final. Every send is
 * synchronous (the socket buffers), so 10,000 targets never wait on each other.
 */
export class RunScheduler {
  constructor(private readonly d: SchedulerDeps) {}

  /**
   * Records a target change: announced now; stored on the next tick once the target is final.
   * Sent and running live in memory only (at 10,000 hosts they would double the writes): after a
   * restart such a target is simply not confirmed yet, and its host gets the command again (see
   * RunService.load).
   */
  changed(run: ActiveRun, t: RunTargetRecord): void {
    if (FINAL_STATES.has(t.state)) this.d.writer.target(t);
    this.d.hub.publish({ type: 'run', runId: run.id, nodeId: t.nodeId, change: 'target', target: t });
  }

  /** Starts as many hosts as the policy allows; moves through batches as they end. */
  pump(run: ActiveRun): void {
    this.skipped = false;
    try {
      this.pumpBatches(run);
    } finally {
      if (this.skipped) this.finishIfDone(run);
    }
  }

  /** Set when a send was skipped (the target became final without its host): the run may be over. */
  private skipped = false;

  private pumpBatches(run: ActiveRun): void {
    for (;;) {
      if (run.stopped || run.finished) return;
      while (run.slotFree()) {
        const id = run.nextRetry();
        if (id === undefined) break;
        const t = run.targets.get(id);
        if (t?.state === 'queued') this.deliver(run, t);
      }
      while (run.slotFree()) {
        const t = run.nextInBatch();
        if (!t) break;
        this.deliver(run, t);
      }
      if (!run.advanceBatch()) return;
    }
  }

  /** Sends the command to one host; without a session it waits for the host to reconnect. */
  private deliver(run: ActiveRun, t: RunTargetRecord): void {
    const problem = this.d.targetProblem(run, t.nodeId);
    if (problem !== null) {
      run.setState(t, 'canceled');
      t.reason = `not sent: ${problem}`;
      t.finishedAt = this.d.clock.now();
      this.changed(run, t);
      this.skipped = true;
      return;
    }
    if (!this.d.gateway.sendSerialized(t.nodeId, run.frameText)) {
      run.waiting.add(t.nodeId);
      return;
    }
    run.setState(t, 'sent');
    t.sentAt = this.d.clock.now();
    this.changed(run, t);
  }

  /**
   * A host's session is ready again: a queued target gets its command now (or when a slot frees),
   * a target sent before the reconnect gets it again (the host runs a command once, whatever it
   * receives), and the hosts of a canceled run hear about the cancel again.
   */
  onSessionReady(run: ActiveRun, nodeId: string): void {
    const t = run.targets.get(nodeId);
    if (!t || FINAL_STATES.has(t.state)) return;
    if (run.record.canceledBy !== null) {
      if (t.state === 'sent' || t.state === 'running') this.d.gateway.sendToNode(nodeId, { t: 'cancel', body: { runId: run.id } });
      return;
    }
    if (t.state === 'queued' && run.waiting.has(nodeId) && !run.stopped) {
      run.retry(nodeId);
      this.pump(run);
    } else if (t.state === 'sent') {
      if (this.d.gateway.sendSerialized(nodeId, run.frameText)) run.resent.add(nodeId);
    }
  }

  /**
   * Stops starting hosts: every target not yet sent becomes canceled with `targetReason`; hosts
   * already working carry on (a cancel sends them `cancel` frames separately).
   */
  stop(run: ActiveRun, runReason: string, targetReason: string): void {
    if (run.stopped) return;
    run.stopped = true;
    run.record.reason ??= runReason;
    const now = this.d.clock.now();
    for (const t of run.targets.values()) {
      if (t.state !== 'queued') continue;
      run.setState(t, 'canceled');
      t.reason = targetReason;
      t.finishedAt = now;
      this.changed(run, t);
    }
    this.d.writer.run(run.record);
    this.finishIfDone(run);
  }

  /** Sends `cancel` to every host working on the run; false for hosts without a session. */
  cancelInFlight(run: ActiveRun): void {
    for (const t of run.targets.values()) {
      if (t.state === 'sent' || t.state === 'running') this.d.gateway.sendToNode(t.nodeId, { t: 'cancel', body: { runId: run.id } });
    }
  }

  /**
   * The run's deadline passed: hosts that were offered the command and never answered become
   * unreachable, hosts whose batch never started are canceled.
   */
  expire(run: ActiveRun): void {
    const untried = run.untried();
    run.stopped = true;
    run.record.reason ??= 'deadline passed before every host answered';
    const now = this.d.clock.now();
    for (const t of run.targets.values()) {
      if (FINAL_STATES.has(t.state)) continue;
      const before = t.state;
      if (before === 'queued' && untried.has(t.nodeId)) {
        run.setState(t, 'canceled');
        t.reason = 'the deadline passed before this host was started';
      } else {
        run.setState(t, 'unreachable');
        t.reason =
          before === 'queued'
            ? 'the host was not connected before the deadline'
            : before === 'sent'
              ? 'the host did not confirm the command before the deadline'
              : 'no result from the host before the deadline';
      }
      t.finishedAt = now;
      this.changed(run, t);
    }
    this.d.writer.run(run.record);
    this.finishIfDone(run);
  }

  /** A final target: maybe the threshold is crossed, maybe the batch or the whole run is over. */
  afterFinal(run: ActiveRun): void {
    if (!run.stopped && run.thresholdExceeded()) {
      const limit = run.policy.failureThreshold!;
      this.stop(run, `failure threshold reached: ${run.failures} hosts did not succeed (allowed ${limit})`, 'failure threshold reached');
    }
    this.pump(run);
    this.finishIfDone(run);
  }

  /** Sets the run's final state once no target is open (also after a late result changed it). */
  finishIfDone(run: ActiveRun): void {
    const state = run.currentState();
    if (state === 'running') {
      this.d.writer.run(run.record);
      return;
    }
    const wasFinished = run.finished;
    run.record.state = state;
    if (!wasFinished) run.record.finishedAt = this.d.clock.now();
    this.d.writer.run(run.record);
    if (!wasFinished) this.d.hub.publish({ type: 'run', runId: run.id, change: 'finished', state });
  }
}
