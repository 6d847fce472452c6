import {
  FleetError,
  releaseRefText,
  rolloutTargetProblem,
  verifySignedRollout,
  type Labels,
  type RefusalReason,
  type ReleaseKind,
  type ReleaseRef,
  type UpdateFrame,
  type UpdateStateData,
} from '@gpufleet/protocol';
import type { HostLabelView } from '../exec/attested-labels.js';
import type { Clock } from '../runtime/clock.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import { errorText, type Logger } from '../runtime/logger.js';
import type { UpdateFrameHandler } from './update-frame-handler.js';
import type { InstallOutcome, ReleaseInstaller } from './release-installer.js';
import type { VerifiedRelease } from './release-verifier.js';

type ApplyBody = Extract<UpdateFrame['body'], { op: 'apply' }>;
type RollbackBody = Extract<UpdateFrame['body'], { op: 'rollback' }>;

/** The trust state an update is judged by: the same roots, revocations and labels as commands and jobs. */
export interface UpdateTrust {
  readonly roots: readonly string[];
  readonly skewMs: number;
  isRevoked: (capId: string, did: string) => boolean;
  labelView(base: Labels): HostLabelView;
}

/** What fetches and checks a release through TUF (ReleaseVerifier over the server the agent is connected to). */
export interface ReleaseFetcher {
  verify(ref: ReleaseRef): Promise<VerifiedRelease>;
}

export interface UpdateHandlerOptions {
  trust: UpdateTrust;
  /** The labels this host vouches for itself (vouchedHostLabels). */
  hostLabels: () => Labels;
  /** A verifier against the server this agent talks to now; null while it has none. */
  fetcher: () => ReleaseFetcher | null;
  /** One installer per release kind; a kind without one is refused ('unsupported'). */
  installers: Partial<Record<ReleaseKind, ReleaseInstaller>>;
  /** Why a kind has no installer, said in the refusal. */
  missingInstaller?: Partial<Record<ReleaseKind, string>>;
  /**
   * True while this build, just switched to, still owes its self-check (AgentSelfCheck): a
   * repeated apply then stays unanswered, since the self-check's own report says healthy or not.
   */
  selfCheckOwed?: (kind: ReleaseKind) => boolean;
  /** A rollout whose build failed here and was rolled back (update-failures.ts): answered with that failure, never applied again. */
  failedBefore?: (kind: ReleaseKind, rolloutId: string) => { message: string } | null;
  /** False refuses every update ('unsupported'): `gpufleet-agent run --updates off`. Default true. */
  enabled?: boolean;
  enqueue: (e: NewAgentEvent, critical: boolean) => unknown;
  clock: Clock;
  logger: Logger;
}

const DEFAULT_MISSING: Record<ReleaseKind, string> = {
  agent: 'this agent cannot install agent builds: it was not started by `gpufleet-agent launch` (the systemd unit runs it)',
  bundle: 'this agent applies no host bundles (no bundle installer is configured)',
};

const UPDATES_OFF = 'updates are off on this host (gpufleet-agent run --updates off)';

/**
 * Applies `update` frames (issue 14). An apply is checked in order: the signed rollout (its
 * invoker's authority over this host and its selector, like a signed job), the release through
 * TUF against the connected server, the TUF-verified hash against the one the operator signed;
 * only then does the installer of the release's kind see the file. Every step is an
 * `update-state` event through the outbox (critical: it must outlive a restart). A refusal
 * leaves the running version alone. One update at a time per release name.
 */
export class UpdateHandler implements UpdateFrameHandler {
  /** Release names being updated now, with the rollout doing it. */
  private readonly busy = new Map<string, string>();

  constructor(private readonly o: UpdateHandlerOptions) {}

  /** Names of the releases being updated now (for tests and status). */
  get inProgress(): ReadonlyMap<string, string> {
    return this.busy;
  }

  /** Handles one frame; the returned promise settles when its last report is enqueued (never rejects). */
  async onFrame(body: UpdateFrame['body']): Promise<void> {
    try {
      if (body.op === 'apply') await this.apply(body);
      else await this.rollback(body);
    } catch (err) {
      // A bug here must not take the agent down; the report says what happened.
      this.o.logger.error('could not handle an update frame', { op: body.op, err: errorText(err) });
    }
  }

  private async apply(body: ApplyBody): Promise<void> {
    const { payload } = body.rollout;
    const release: ReleaseRef = payload.release;
    const base = { rolloutId: body.rolloutId, kind: release.kind, name: release.name, version: release.version };
    const installer = this.o.installers[release.kind];
    const running = installer?.runningVersion(release.name) ?? null;
    const refuse = (reason: RefusalReason, message: string) =>
      this.report({ ...base, fromVersion: running, runningVersion: running, state: 'refused', rolledBack: false, reason, message });

    if (this.o.enabled === false) return refuse('unsupported', UPDATES_OFF);
    const labels = this.o.trust.labelView(this.o.hostLabels());
    const verdict = verifySignedRollout(body.rollout, {
      roots: this.o.trust.roots,
      now: this.o.clock.now(),
      skewMs: this.o.trust.skewMs,
      isRevoked: this.o.trust.isRevoked,
      hostLabels: labels.labels,
      vouches: labels.vouches,
    });
    if (!verdict.ok) return refuse(verdict.reason, verdict.message);
    if (!installer) return refuse('unsupported', this.o.missingInstaller?.[release.kind] ?? DEFAULT_MISSING[release.kind]);
    const holder = this.busy.get(release.name);
    if (holder === body.rolloutId) {
      this.o.logger.info('this update is being applied already; repeated frame ignored', { rolloutId: body.rolloutId });
      return;
    }
    if (holder !== undefined)
      return refuse('release_refused', `another update of ${release.name} is in progress here (rollout ${holder}); try again when it ends`);
    const failed = this.o.failedBefore?.(release.kind, body.rolloutId);
    if (failed) {
      return this.report({ ...base, fromVersion: running, runningVersion: running, state: 'failed', rolledBack: true, reason: null, message: failed.message });
    }
    if (running === release.version) {
      if (this.o.selfCheckOwed?.(release.kind)) {
        this.o.logger.info('this build runs the rollout already and is passing its self-check; it reports when done', { rolloutId: body.rolloutId });
        return;
      }
      return this.report({
        ...base,
        fromVersion: running,
        runningVersion: running,
        state: 'healthy',
        rolledBack: false,
        reason: null,
        message: `${releaseRefText(release)} runs here already`,
      });
    }

    this.busy.set(release.name, body.rolloutId);
    try {
      const step = (state: 'verifying' | 'installing' | 'restarting', message: string) =>
        this.report({ ...base, fromVersion: running, runningVersion: running, state, rolledBack: false, reason: null, message });
      step('verifying', `checking ${releaseRefText(release)} through TUF`);
      const fetcher = this.o.fetcher();
      if (!fetcher) return refuse('release_refused', 'this agent is not connected to a server to fetch the release from');
      let verified: VerifiedRelease;
      try {
        verified = await fetcher.verify(release);
      } catch (err) {
        return refuse('release_refused', err instanceof FleetError ? err.message : `release refused: ${errorText(err)}`);
      }
      const target = rolloutTargetProblem(payload, { path: verified.targetPath, sha256: verified.sha256 });
      if (!target.ok) return refuse(target.reason, target.message);
      let outcome: InstallOutcome;
      try {
        outcome = await installer.apply({ ...verified, rolloutId: body.rolloutId }, step);
      } catch (err) {
        // The installer never switched: the version that ran before still runs.
        outcome = { state: 'failed', fromVersion: running, runningVersion: running, rolledBack: false, message: `could not install: ${errorText(err)}` };
      }
      this.report({ ...base, ...outcome, reason: null });
    } finally {
      this.busy.delete(release.name);
    }
  }

  private async rollback(body: RollbackBody): Promise<void> {
    const installer = this.o.installers[body.kind];
    const running = installer?.runningVersion(body.name) ?? null;
    const base = { rolloutId: body.rolloutId, kind: body.kind, name: body.name, version: running ?? '' };
    if (!installer || this.o.enabled === false) {
      return this.report({
        ...base,
        fromVersion: running,
        runningVersion: running,
        state: 'failed',
        rolledBack: false,
        reason: 'unsupported',
        message: this.o.enabled === false ? UPDATES_OFF : (this.o.missingInstaller?.[body.kind] ?? DEFAULT_MISSING[body.kind]),
      });
    }
    const holder = this.busy.get(body.name);
    if (holder !== undefined) {
      return this.report({
        ...base,
        fromVersion: running,
        runningVersion: running,
        state: 'failed',
        rolledBack: false,
        reason: 'release_refused',
        message: `cannot roll ${body.name} back while rollout ${holder} is updating it`,
      });
    }
    this.busy.set(body.name, body.rolloutId);
    try {
      let outcome: InstallOutcome;
      try {
        outcome = await installer.rollback(body.name, body.reason);
      } catch (err) {
        outcome = { state: 'failed', fromVersion: running, runningVersion: running, rolledBack: false, message: `could not roll back: ${errorText(err)}` };
      }
      this.report({ ...base, ...outcome, reason: null });
    } finally {
      this.busy.delete(body.name);
    }
  }

  /** One `update-state` event; critical, so a report made just before a restart is still sent. */
  report(data: UpdateStateData): void {
    const what = data.kind === 'agent' ? `agent ${data.version}` : `${data.name} ${data.version}`;
    this.o.logger[data.state === 'refused' || data.state === 'failed' ? 'warn' : 'info']('update', {
      rolloutId: data.rolloutId,
      release: what,
      state: data.state,
      ...(data.reason ? { reason: data.reason } : {}),
      message: data.message.slice(0, 500),
    });
    this.o.enqueue(
      {
        kind: 'update-state',
        message: `update ${what}: ${data.state}${data.message ? `: ${data.message}` : ''}`,
        data: { ...data, message: data.message.slice(0, 4096) },
      },
      true,
    );
  }
}
