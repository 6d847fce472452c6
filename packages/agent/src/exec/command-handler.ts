import {
  cancelProblem,
  commandDeadline,
  verifySignedCommand,
  type SignedCancel,
  type CommandPayload,
  type Labels,
  type RefusalReason,
  type Revocation,
  type RootsUpdate,
  type ScriptSignature,
  type SignedCommand,
} from '@gpufleet/protocol';
import { systemClock, type Clock } from '../runtime/clock.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import { errorText, silentLogger, type Logger } from '../runtime/logger.js';
import type { StoredRunOutcome, StoredRunResult } from '../runtime/state.js';
import type { CommandRunnerLike, RunnableCommand, RunningCommand, RunResult } from './command-runner.js';
import { startContainerRun, type ContainerOpFn } from './container-run.js';
import type { OutputChunk } from './output-chunker.js';
import { currentProcessIdentity, runAsProblem, type ProcessIdentity } from './run-as.js';
import type { TrustApplied, TrustStore } from './trust-store.js';

/** The body of a `command` frame, as the link validated it. */
export interface CommandDelivery {
  command: SignedCommand;
  scriptContent: string | null;
  scriptSignature: unknown;
}

export interface CommandHandlerOptions {
  trust: TrustStore;
  runner: CommandRunnerLike;
  /**
   * Puts an event in the outbox. Critical events (started, result, refused) are fsynced and may
   * use the share kept for health events; output chunks are not, so a chatty command cannot
   * crowd out a failing GPU's event.
   */
  enqueue: (event: NewAgentEvent, critical: boolean) => unknown;
  /**
   * The labels this host vouches for itself: built-in labels computed from its own facts
   * (builtinLabels, like the server does) plus those it asked for at join. Never labels the
   * server tells it: a stolen server could claim any label to widen a selector. Operator labels
   * count only through a verified label attestation (TrustStore.labelView), and a selector naming
   * a label this host cannot vouch for is refused.
   */
  hostLabels: () => Labels;
  clock?: Clock;
  logger?: Logger;
  /** Output kept per run. Default 1 MiB. */
  outputCapBytes?: number;
  /** The container operation; loaded on the first container command. */
  containerOp?: () => Promise<ContainerOpFn>;
  /** The engine API socket for container commands. */
  containerSocketPath?: string;
  /** Who the agent is, for run-as checks (tests inject it). */
  self?: ProcessIdentity;
  /** False when the host's owner turned remote commands off (`run --commands off`): every command is refused. */
  commandsEnabled?: boolean;
}

/** Stopping waits this long for canceled runs to report their results. */
const STOP_WAIT_MS = 5000;

const INTERRUPTED = 'the agent stopped while this run was in progress (a crash or a restart); its outcome is unknown';

function resultMessage(runId: string, r: StoredRunResult): string {
  const how = r.timedOut
    ? 'timed out'
    : r.canceled
      ? 'canceled'
      : r.signal
        ? `killed by ${r.signal}`
        : r.exitCode === null
          ? 'ended, outcome unknown'
          : `exit ${r.exitCode}`;
  return `run ${runId}: ${how} after ${r.durationMs} ms${r.truncated ? ' (output truncated)' : ''}`;
}

function toRunnable(command: CommandPayload['command'], scriptContent: string | null): RunnableCommand {
  switch (command.kind) {
    case 'argv':
      return { kind: 'argv', argv: command.argv };
    case 'shell':
      return { kind: 'shell', script: command.script };
    case 'script':
      // Verified already: this content hashes to command.sha256 and the script signature holds.
      return { kind: 'script', name: command.name, content: scriptContent ?? '', args: command.args };
    case 'container':
      throw new Error('container commands do not run as processes');
  }
}

/**
 * The host side of remote operations. For each `command` frame: verify everything
 * (verifySignedCommand: signature, capability chain to a current root, attenuation, this
 * host's own labels against the selectors, time window, revocations, script hash and
 * signature, nonce), then record the run durably, then run it, reporting run-started,
 * run-output chunks and run-result through the outbox. A refused command runs nothing and is
 * reported as run-refused with its reason. A command delivered again (same run id and
 * signature) is never run twice: its stored outcome is reported again. A command is accepted only
 * until its own deadline (commandDeadline: issuedAt + timeout + 60 s, plus skew), and never when
 * the host holds a signed cancel for it (by its invoker or a root; see onCancel).
 */
export class CommandHandler {
  private readonly logger: Logger;
  private readonly clock: Clock;
  private self: ProcessIdentity | null;
  private readonly active = new Map<string, RunningCommand>();

  constructor(private readonly o: CommandHandlerOptions) {
    this.logger = o.logger ?? silentLogger;
    this.clock = o.clock ?? systemClock;
    this.self = o.self ?? null;
  }

  /** Runs in progress. */
  get running(): number {
    return this.active.size;
  }

  /** Whether this run is in progress here. */
  isRunning(runId: string): boolean {
    return this.active.has(runId);
  }

  /**
   * Reports runs that were accepted but never finished (the agent crashed or was killed while
   * they ran): outcome unknown. Call once at start, before commands arrive.
   */
  reportInterrupted(): number {
    const lost = this.o.trust.unfinishedRuns().filter((r) => !this.active.has(r.runId));
    for (const entry of lost) {
      const result: StoredRunResult = {
        exitCode: null,
        signal: null,
        timedOut: false,
        canceled: false,
        durationMs: Math.max(0, Math.round(this.clock.now() - entry.at)),
        outputBytes: 0,
        truncated: false,
      };
      this.recordOutcome(entry.runId, { kind: 'result', result, message: INTERRUPTED });
      this.reportResult(entry.runId, result, INTERRUPTED);
      this.logger.warn('a run was interrupted by an agent restart; reported with an unknown outcome', { runId: entry.runId });
    }
    return lost.length;
  }

  /** A verified-shape `command` frame from the server. */
  onCommand(delivery: CommandDelivery): void {
    const cmd = delivery.command;
    const { payload } = cmd;
    if (this.o.commandsEnabled === false) {
      // Decided by whoever runs the agent, not by any signature: nothing is recorded or run.
      this.refuse(payload.runId, 'unsupported', 'remote commands are turned off on this host (the agent runs with --commands off)');
      return;
    }
    const known = this.o.trust.run(payload.runId);
    if (known) {
      this.redelivered(cmd, known.sig, known.outcome);
      return;
    }
    this.self ??= currentProcessIdentity();
    let verdict;
    try {
      const labels = this.o.trust.labelView(this.o.hostLabels());
      verdict = verifySignedCommand(cmd, {
        roots: this.o.trust.roots,
        now: this.clock.now(),
        skewMs: this.o.trust.skewMs,
        isRevoked: this.o.trust.isRevoked,
        hostLabels: labels.labels,
        vouches: labels.vouches,
        seenNonce: this.o.trust.seenNonce,
        scriptContent: delivery.scriptContent,
        scriptSignature: delivery.scriptSignature as ScriptSignature | null,
        // Nonces are remembered for this long, so older commands must be refused outright.
        maxAgeMs: this.o.trust.replayWindowMs,
        // A command without runAs runs as the agent's own account: capability runAs limits judge that one.
        agentUser: this.self.username,
      });
    } catch (err) {
      // The verifier should never throw; if it does, the command is refused, never run.
      verdict = { ok: false as const, reason: 'malformed' as const, message: `could not verify the command: ${errorText(err)}` };
    }
    if (!verdict.ok) {
      // Not recorded: an unverified command must not be able to fill the replay cache or claim a run id.
      this.refuse(payload.runId, verdict.reason, verdict.message);
      return;
    }
    if (payload.issuedAt <= this.o.trust.replayHorizon) {
      this.refuse(
        payload.runId,
        'expired',
        `command was issued at ${new Date(payload.issuedAt).toISOString()}, before this host's replay horizon: it can no longer tell whether it ran it`,
      );
      return;
    }
    const cancel = this.o.trust.cancelFor(payload);
    if (cancel) {
      // The cancel arrived first (or while the command waited for this host): it never runs here.
      this.refuse(
        payload.runId,
        'canceled',
        `a signed cancel by ${cancel.iss} (${new Date(cancel.at).toISOString()}) stops this command; it will not run on this host`,
      );
      return;
    }
    let entry;
    try {
      entry = this.o.trust.recordStart({
        runId: payload.runId,
        nonce: payload.nonce,
        sig: cmd.sig,
        issuedAt: payload.issuedAt,
        deadline: commandDeadline(payload),
      });
    } catch (err) {
      // Without the durable record a restart could run it again: better not to run it at all.
      this.refuse(payload.runId, 'unsupported', `this host could not record the run before starting it: ${errorText(err)}`);
      return;
    }
    const problem = payload.command.kind === 'container' ? null : runAsProblem(payload.runAs, this.self);
    if (problem) {
      this.recordOutcome(entry.runId, { kind: 'refused', reason: 'unsupported', message: problem });
      this.refuse(entry.runId, 'unsupported', problem);
      return;
    }
    this.execute(payload, delivery.scriptContent);
  }

  /**
   * A `command` frame that does not match the protocol (the link could not parse it): refused
   * as malformed when it names a run id, so the server does not wait for it forever.
   */
  onMalformedCommand(raw: unknown, why: string): void {
    const runId = (raw as { body?: { command?: { payload?: { runId?: unknown } } } } | null)?.body?.command?.payload?.runId;
    if (typeof runId === 'string' && runId.length > 0 && runId.length <= 64) this.refuse(runId, 'malformed', `command does not match the protocol: ${why}`);
    else this.logger.warn('ignoring a malformed command frame without a run id', { why });
  }

  /**
   * `cancel` frame: kills the run's process group (its result says canceled). With `signed` (an
   * operator's SignedCancel for this run), the cancel is also remembered, durably, until the
   * command's deadline: a command it names (by its invoker or a root) is refused when it arrives
   * later. A signed cancel that does not verify is ignored (logged); the plain cancel still acts.
   */
  onCancel(runId: string, signed?: unknown): void {
    if (signed !== undefined) this.rememberCancel(runId, signed);
    const run = this.active.get(runId);
    if (!run) {
      this.logger.info('cancel for a run that is not running here', { runId });
      return;
    }
    this.logger.info('canceling a run', { runId });
    run.cancel();
  }

  private rememberCancel(runId: string, signed: unknown): void {
    const problem = cancelProblem(signed);
    const cancel = problem === null ? (signed as SignedCancel).payload : null;
    if (cancel === null || cancel.runId !== runId) {
      this.logger.warn('ignoring a signed cancel that does not verify', { runId, why: problem ?? `it names run ${cancel?.runId}` });
      return;
    }
    try {
      if (this.o.trust.recordCancel(cancel)) this.logger.info('signed cancel remembered', { runId, by: cancel.iss });
    } catch (err) {
      this.logger.error('could not record a signed cancel', { runId, err: errorText(err) });
    }
  }

  /** `trust` frame: applies verified root updates, revocations and label attestation, ignores (and logs) the rest. */
  onTrust(body: { roots: readonly RootsUpdate[]; revocations: readonly Revocation[]; labels?: unknown }): TrustApplied {
    return this.o.trust.applyTrust(body, this.o.hostLabels());
  }

  /** Cancels every run and waits (bounded) for their results to be reported. */
  async stopAll(): Promise<void> {
    const runs = [...this.active.values()];
    for (const r of runs) r.cancel();
    if (runs.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(runs.map((r) => r.done)), new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }

  private redelivered(cmd: SignedCommand, storedSig: string, outcome: StoredRunOutcome | null): void {
    const runId = cmd.payload.runId;
    if (cmd.sig !== storedSig) {
      this.refuse(runId, 'replayed_nonce', `run id ${runId} was already used by another command on this host`);
      return;
    }
    if (this.active.has(runId)) {
      this.logger.info('command delivered again while it runs; not started twice', { runId });
      return;
    }
    this.logger.info('command delivered again; reporting its stored outcome instead of running it twice', { runId });
    if (outcome === null) return;
    if (outcome.kind === 'refused') this.refuse(runId, outcome.reason, outcome.message);
    else this.reportResult(runId, outcome.result, outcome.message);
  }

  private execute(payload: CommandPayload, scriptContent: string | null): void {
    const runId = payload.runId;
    const hooks = {
      onStart: (pid: number | null) =>
        this.o.enqueue({ kind: 'run-started', message: `run ${runId} started${pid === null ? '' : ` (pid ${pid})`}`, data: { runId, pid } }, true),
      onOutput: (c: OutputChunk) => this.o.enqueue({ kind: 'run-output', message: '', data: { runId, ...c } }, false),
    };
    let running: RunningCommand;
    if (payload.command.kind === 'container') {
      running = startContainerRun(payload.command, hooks, {
        op: this.o.containerOp ?? (() => Promise.reject(new Error('this agent has no container engine support'))),
        socketPath: this.o.containerSocketPath,
        timeoutMs: payload.timeoutMs,
        outputCapBytes: this.o.outputCapBytes,
      });
    } else {
      running = this.o.runner.start(
        {
          command: toRunnable(payload.command, scriptContent),
          env: payload.env,
          cwd: payload.cwd,
          timeoutMs: payload.timeoutMs,
          runAs: payload.runAs,
          outputCapBytes: this.o.outputCapBytes,
        },
        hooks,
      );
    }
    this.active.set(runId, running);
    this.logger.info('run started', { runId, kind: payload.command.kind, invoker: payload.invoker });
    void running.done
      .catch((err: unknown): RunResult => {
        this.logger.error('a run failed inside the agent', { runId, err: errorText(err) });
        return { exitCode: null, signal: null, timedOut: false, canceled: false, durationMs: 0, outputBytes: 0, truncated: false };
      })
      .then((result) => {
        this.active.delete(runId);
        this.recordOutcome(runId, { kind: 'result', result });
        this.reportResult(runId, result);
      });
  }

  private recordOutcome(runId: string, outcome: StoredRunOutcome): void {
    try {
      this.o.trust.recordOutcome(runId, outcome);
    } catch (err) {
      this.logger.error('could not record how a run ended; it is reported anyway', { runId, err: errorText(err) });
    }
  }

  private reportResult(runId: string, result: StoredRunResult, note?: string): void {
    const message = note ? `${resultMessage(runId, result)}: ${note}` : resultMessage(runId, result);
    this.o.enqueue({ kind: 'run-result', message, data: { runId, ...result } }, true);
  }

  private refuse(runId: string, reason: RefusalReason, message: string): void {
    const text = message.length > 2000 ? `${message.slice(0, 1999)}…` : message;
    this.logger.warn('command refused; nothing ran', { runId, reason, message: text });
    this.o.enqueue({ kind: 'run-refused', message: `run ${runId} refused (${reason}): ${text}`, data: { runId, reason, message: text } }, true);
  }
}
