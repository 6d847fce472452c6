import type { UpdateStateData } from '@gpufleet/protocol';
import type { RolloutHostPatch, RolloutHostRecord, RolloutRecord } from '../store/rollout-records.js';

/**
 * The rollout state machine, pure: given a rollout, its hosts and what the fleet looks like now,
 * it decides the next state, what changes on which host, which frames go out and what goes in the
 * rollout's history. No I/O and no clock of its own (`world.now`), so tests drive it with a fake
 * clock and the service (rollout-service.ts) only loads, applies and sends.
 *
 * Steps: pending → running (update frames out) → settling (every host of the step healthy; the
 * healthy-for clock runs) → done (healthy for plan.healthyForMs) → the next step starts. A host
 * going offline or failing while settling sends the step back to running (the clock starts again
 * once all are healthy). More failed or refused hosts than plan.maxFailures pauses the rollout:
 * the step is failed and failed hosts that did not roll themselves back get a rollback frame.
 */

/** What the machine needs to know of the fleet. */
export interface RolloutWorld {
  now: number;
  /** Why this node cannot take an update now (offline, cordoned, draining...), or null when it can. */
  unavailable(nodeId: string): string | null;
  /** Whether the node's agent is connected (a healthy host that goes offline is not healthy). */
  online(nodeId: string): boolean;
}

export type RolloutFrame = { nodeId: string; op: 'apply' } | { nodeId: string; op: 'rollback'; reason: string };

export interface RolloutEventDraft {
  kind: string;
  nodeId: string | null;
  message: string;
}

/** What one decision changes: the new rollout and hosts, the patches to store, the frames and events. */
export interface RolloutDecision {
  rollout: RolloutRecord;
  rolloutChanged: boolean;
  hosts: RolloutHostRecord[];
  hostPatches: Map<string, RolloutHostPatch>;
  frames: RolloutFrame[];
  events: RolloutEventDraft[];
}

/** Host states in which the host is working on the update (a reconnect gets the apply frame again). */
export const UPDATING_STATES = ['sent', 'verifying', 'installing', 'restarting'] as const;

/** Builds one decision on copies of the records. */
export class RolloutDraft {
  readonly rollout: RolloutRecord;
  readonly hosts: RolloutHostRecord[];
  private rolloutChanged = false;
  private readonly patches = new Map<string, RolloutHostPatch>();
  private readonly frames: RolloutFrame[] = [];
  private readonly events: RolloutEventDraft[] = [];

  constructor(
    rollout: RolloutRecord,
    hosts: readonly RolloutHostRecord[],
    readonly now: number,
  ) {
    this.rollout = { ...rollout, steps: rollout.steps.map((s) => ({ ...s })) };
    this.hosts = hosts.map((h) => ({ ...h }));
  }

  setRollout(patch: Partial<Pick<RolloutRecord, 'state' | 'step' | 'forgivenFailures' | 'message'>>): void {
    Object.assign(this.rollout, patch, { updatedAt: this.now });
    this.rolloutChanged = true;
  }

  setStep(index: number, patch: Partial<RolloutRecord['steps'][number]>): void {
    Object.assign(this.rollout.steps[index]!, patch);
    this.rollout.updatedAt = this.now;
    this.rolloutChanged = true;
  }

  setHost(host: RolloutHostRecord, patch: RolloutHostPatch): void {
    Object.assign(host, patch, { updatedAt: this.now });
    this.patches.set(host.nodeId, { ...this.patches.get(host.nodeId), ...patch, updatedAt: this.now });
  }

  send(frame: RolloutFrame): void {
    this.frames.push(frame);
  }

  event(kind: string, message: string, nodeId: string | null = null): void {
    this.events.push({ kind, nodeId, message });
  }

  decision(): RolloutDecision {
    return {
      rollout: this.rollout,
      rolloutChanged: this.rolloutChanged,
      hosts: this.hosts,
      hostPatches: this.patches,
      frames: this.frames,
      events: this.events,
    };
  }
}

/** Hosts that count as failed (reported failed or refused) beyond those an operator accepted on resume. */
export function countedFailures(rollout: RolloutRecord, hosts: readonly RolloutHostRecord[]): number {
  return hosts.filter((h) => h.failedAt !== null).length - rollout.forgivenFailures;
}

function listNames(hosts: readonly RolloutHostRecord[], max = 5): string {
  const names = hosts.slice(0, max).map((h) => h.hostname);
  return hosts.length > max ? `${names.join(', ')} and ${hosts.length - max} more` : names.join(', ');
}

function startStep(d: RolloutDraft, index: number, world: RolloutWorld): void {
  const step = d.rollout.steps[index]!;
  d.setStep(index, { state: 'running', startedAt: world.now, settlingSince: null });
  const skipped: RolloutHostRecord[] = [];
  for (const h of d.hosts) {
    if (h.step !== index || h.state !== 'pending') continue;
    const why = world.unavailable(h.nodeId);
    if (why !== null) {
      d.setHost(h, { state: 'skipped', message: `skipped: ${why}` });
      skipped.push(h);
    } else {
      d.setHost(h, { state: 'sent', message: null });
      d.send({ nodeId: h.nodeId, op: 'apply' });
    }
  }
  d.event('step-started', `${step.name} started: ${step.hosts - skipped.length} of ${step.hosts} hosts updating`);
  if (skipped.length > 0)
    d.event(
      'hosts-skipped',
      `${step.name} skipped ${skipped.length}: ${skipped.map((h) => `${h.hostname} (${h.message?.replace(/^skipped: /, '')})`).join(', ')}`,
    );
}

/** Rollback frames to failed hosts that did not roll themselves back. */
function rollBackFailed(d: RolloutDraft, reason: string): void {
  for (const h of d.hosts) {
    if (h.failedAt === null || h.state !== 'failed' || h.rollback !== 'none') continue;
    d.setHost(h, { rollback: 'sent' });
    d.send({ nodeId: h.nodeId, op: 'rollback', reason });
  }
}

function pauseForFailures(d: RolloutDraft): void {
  const { rollout } = d;
  const failed = d.hosts.filter((h) => h.failedAt !== null);
  const step = rollout.steps[rollout.step]!;
  const message = `paused: ${failed.length} host${failed.length === 1 ? '' : 's'} failed (${listNames(failed)}), more than max-failures ${rollout.plan.maxFailures}`;
  d.setStep(rollout.step, { state: 'failed', settlingSince: null });
  d.setRollout({ state: 'paused', message });
  d.event('paused', `${step.name}: ${message}`);
  rollBackFailed(d, `rollout ${rollout.id} paused: too many hosts failed`);
}

/** Whether a host of a step holds it back, and why (null: healthy and online, or counted as failed). */
function holdsBack(h: RolloutHostRecord, world: RolloutWorld): string | null {
  if (h.state === 'skipped' || h.failedAt !== null) return null;
  if (h.state !== 'healthy') return h.state;
  return world.online(h.nodeId) ? null : 'offline';
}

/**
 * Moves a running rollout as far as it can go now: starts pending steps, pauses on too many
 * failures, settles, finishes steps after healthy-for and the rollout after its last step.
 * A rollout that is not running is returned unchanged.
 */
export function advance(rollout: RolloutRecord, hosts: readonly RolloutHostRecord[], world: RolloutWorld): RolloutDecision {
  const d = new RolloutDraft(rollout, hosts, world.now);
  const r = d.rollout;
  for (let guard = 0; r.state === 'running' && guard <= r.steps.length; guard++) {
    const index = r.step;
    const step = r.steps[index];
    if (!step) break;
    if (step.state === 'failed') break;
    if (step.state === 'pending') startStep(d, index, world);
    if (countedFailures(r, d.hosts) > r.plan.maxFailures) {
      pauseForFailures(d);
      break;
    }
    if (step.state === 'running' || step.state === 'settling') {
      // A host removed from the fleet while updating will never report: it leaves the step.
      for (const h of d.hosts) {
        if (h.step !== index || !(UPDATING_STATES as readonly string[]).includes(h.state) || world.unavailable(h.nodeId) !== 'removed') continue;
        d.setHost(h, { state: 'skipped', message: 'skipped: removed from the fleet while updating' });
        d.event('hosts-skipped', `${step.name} skipped ${h.hostname}: removed from the fleet`, h.nodeId);
      }
      const blocker = d.hosts.find((h) => h.step === index && holdsBack(h, world) !== null);
      if (blocker) {
        if (step.state === 'settling') {
          d.setStep(index, { state: 'running', settlingSince: null });
          d.event(
            'step-unsettled',
            `${step.name}: ${blocker.hostname} is ${holdsBack(blocker, world)}; healthy-for starts again once every host is healthy`,
            blocker.nodeId,
          );
        }
        break;
      }
      const active = d.hosts.some((h) => h.step === index && h.state === 'healthy');
      if (step.state === 'running' && active && r.plan.healthyForMs > 0) {
        d.setStep(index, { state: 'settling', settlingSince: world.now });
        d.event('step-settling', `${step.name}: every host is healthy; waiting ${r.plan.healthyForMs} ms (healthy-for)`);
      }
      if (step.state === 'settling' && world.now - (step.settlingSince ?? world.now) < r.plan.healthyForMs) break;
      d.setStep(index, { state: 'done', doneAt: world.now, settlingSince: null });
      d.event('step-done', `${step.name} done`);
    }
    if (index === r.steps.length - 1) {
      const count = (pred: (h: RolloutHostRecord) => boolean) => d.hosts.filter(pred).length;
      const message = `${count((h) => h.state === 'healthy')} healthy, ${count((h) => h.state === 'skipped')} skipped, ${count((h) => h.failedAt !== null)} failed`;
      d.setRollout({ state: 'succeeded', message: null });
      d.event('succeeded', `rollout succeeded: ${message}`);
      break;
    }
    d.setRollout({ step: index + 1 });
  }
  return d.decision();
}

/**
 * A host's report on this rollout: the host's new state, or null when the report is not about
 * this rollout's release (another name or version) or the host was never sent the update.
 */
export function applyReport(rollout: RolloutRecord, host: RolloutHostRecord, data: UpdateStateData, now: number): RolloutDecision | null {
  if (data.kind !== rollout.kind || data.name !== rollout.name) return null;
  if (host.state === 'pending') return null;
  // A rollback report names the version it went back to; every other one the rollout's version.
  if (data.state !== 'rolled-back' && data.version !== rollout.version) return null;
  const d = new RolloutDraft(rollout, [host], now);
  const h = d.hosts[0]!;
  const patch: RolloutHostPatch = {
    state: data.state,
    runningVersion: data.runningVersion,
    message: data.message === '' ? null : data.message,
    healthySince: data.state === 'healthy' ? (host.state === 'healthy' ? host.healthySince : now) : null,
  };
  if (host.fromVersion === null && data.fromVersion !== null && data.state !== 'rolled-back') patch.fromVersion = data.fromVersion;
  if ((data.state === 'failed' || data.state === 'refused') && host.failedAt === null) {
    patch.failedAt = now;
    const back = data.state === 'failed' ? (data.rolledBack ? ', rolled itself back' : ', did not roll back') : '';
    d.event(`host-${data.state}`, `${host.hostname} ${data.state}${back}: ${data.message || data.reason || 'no reason given'}`, host.nodeId);
  }
  if (data.state === 'failed' && data.rolledBack && host.rollback === 'none') patch.rollback = 'by-host';
  if (data.state === 'rolled-back' && host.state !== 'rolled-back')
    d.event('host-rolled-back', `${host.hostname} rolled back to ${data.runningVersion ?? 'its previous version'}`, host.nodeId);
  d.setHost(h, patch);
  return d.decision();
}

/** Pauses a running rollout on an operator's word. */
export function pause(rollout: RolloutRecord, hosts: readonly RolloutHostRecord[], now: number, by: string, reason?: string): RolloutDecision {
  const d = new RolloutDraft(rollout, hosts, now);
  const message = `paused by ${by}${reason ? `: ${reason}` : ''}`;
  d.setRollout({ state: 'paused', message });
  d.event('paused', message);
  return d.decision();
}

/**
 * Resumes a paused rollout: the failures so far are accepted (they no longer count against
 * max-failures), a failed step runs again and a settling step's healthy-for starts again.
 */
export function resume(rollout: RolloutRecord, hosts: readonly RolloutHostRecord[], now: number, by: string, reason?: string): RolloutDecision {
  const d = new RolloutDraft(rollout, hosts, now);
  const step = d.rollout.steps[d.rollout.step];
  if (step?.state === 'failed') d.setStep(d.rollout.step, { state: 'running' });
  if (step?.state === 'settling') d.setStep(d.rollout.step, { settlingSince: now });
  d.setRollout({ state: 'running', message: null, forgivenFailures: d.hosts.filter((h) => h.failedAt !== null).length });
  d.event('resumed', `resumed by ${by}${reason ? `: ${reason}` : ''}`);
  return d.decision();
}

/** Aborts a running or paused rollout; with rollback, every host that took the release is told to go back. */
export function abort(
  rollout: RolloutRecord,
  hosts: readonly RolloutHostRecord[],
  now: number,
  by: string,
  opts: { rollback: boolean; reason?: string },
): RolloutDecision {
  const d = new RolloutDraft(rollout, hosts, now);
  const step = d.rollout.steps[d.rollout.step];
  if (step && (step.state === 'running' || step.state === 'settling')) d.setStep(d.rollout.step, { state: 'failed', settlingSince: null });
  const message = `aborted by ${by}${opts.reason ? `: ${opts.reason}` : ''}`;
  d.setRollout({ state: 'aborted', message });
  let back = 0;
  if (opts.rollback) {
    const reason = `rollout ${rollout.id} ${message}`.slice(0, 500);
    for (const h of d.hosts) {
      const took = (UPDATING_STATES as readonly string[]).includes(h.state) || h.state === 'healthy' || (h.state === 'failed' && h.rollback === 'none');
      if (!took) continue;
      d.setHost(h, { rollback: 'sent' });
      d.send({ nodeId: h.nodeId, op: 'rollback', reason });
      back++;
    }
  }
  d.event('aborted', `${message}${opts.rollback ? `; ${back} host${back === 1 ? '' : 's'} told to roll back` : '; no rollback'}`);
  return d.decision();
}

/**
 * A node is back (online, not cordoned or draining): in a running rollout its apply frame goes out
 * again if it was updating (the agent's apply is idempotent), and a host skipped when its step
 * came (running or succeeded rollout) is sent the update now.
 */
export function nodeBack(rollout: RolloutRecord, hosts: readonly RolloutHostRecord[], nodeId: string, world: RolloutWorld): RolloutDecision {
  const d = new RolloutDraft(rollout, hosts, world.now);
  const h = d.hosts.find((x) => x.nodeId === nodeId);
  const live = rollout.state === 'running' || rollout.state === 'succeeded';
  if (!h || !live || world.unavailable(nodeId) !== null) return d.decision();
  if (h.state === 'skipped' && rollout.steps[h.step]?.state !== 'pending') {
    d.setHost(h, { state: 'sent', message: null });
    d.send({ nodeId, op: 'apply' });
    d.event('host-returned', `${h.hostname} is back; sending it the update`, nodeId);
  } else if (rollout.state === 'running' && (UPDATING_STATES as readonly string[]).includes(h.state)) {
    d.send({ nodeId, op: 'apply' });
  }
  return d.decision();
}
