import { errorText, type UpdateFrameHandler, type UpdateHandlerHost } from '@gpufleet/agent';
import { AGENT_RELEASE_NAME, type UpdateFrame, type UpdateStateData } from '@gpufleet/protocol';
import { downloadTarget, type TufSource } from './tuf-download.js';

export interface SimUpdatesOptions {
  /** Pause between a host's reports (verifying → installing → healthy). Default 50 ms. */
  stepMs: number;
  /** Fetch the TUF metadata and the target from the server, as a host does (bytes counted, nothing verified). */
  tuf?: TufSource;
  /**
   * Restarts a host's agent reporting another agentVersion, as a real host execs its new build:
   * agent releases go through it (the fleet wires it); without it only the report changes.
   */
  restartAgent?: (hostname: string, agentVersion: string) => Promise<unknown>;
  /** The agentVersion hosts start with: what an agent release replaces (and a rollback brings back). */
  agentVersion?: string;
}

/** How a host told to fail does it: failed with the old version back (default), or failed and stuck. */
export interface UpdateFault {
  rolledBack: boolean;
  message: string;
}

type Body = UpdateFrame['body'];

/**
 * Simulated hosts' answers to `update` frames (issue 14): no signature or TUF check, no install;
 * each host reports verifying, installing and then healthy, or failed where a fault was set
 * (`failOn`), and goes back on a rollback. Versions are kept per host and release name, so an
 * apply of what runs already is healthy again at once (as a real host's idempotent apply).
 * Agents take it through their declared seam: `updates: { handler: sim.handlerFor(hostname) }`.
 */
export class SimUpdates {
  /** Bytes the hosts fetched from the TUF repository. */
  bytesFetched = 0;
  fetchErrors = 0;
  private readonly faults = new Map<string, UpdateFault>();
  /** hostname → release name → [previous, current] versions. */
  private readonly versions = new Map<string, Map<string, { previous: string | null; current: string | null }>>();
  private readonly busy = new Set<string>();
  /** hostname → the outbox of the host's latest agent: an agent release restarts it, and reports go to the new one. */
  private readonly outboxes = new Map<string, UpdateHandlerHost['enqueue']>();
  private readonly o: SimUpdatesOptions;

  constructor(o: Partial<SimUpdatesOptions> = {}) {
    this.o = { stepMs: 50, ...o };
  }

  /** Makes these hosts fail every apply from now on (clearFaults ends it). */
  failOn(hostnames: readonly string[], fault: Partial<UpdateFault> = {}): void {
    for (const h of hostnames) this.faults.set(h, { rolledBack: true, message: 'simulated: the new version failed its health check', ...fault });
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** The version of a release a host runs now (null: never installed). */
  runningVersion(hostname: string, name: string): string | null {
    return this.versions.get(hostname)?.get(name)?.current ?? null;
  }

  /**
   * The update handler of `hostname`'s agents (UpdateOptions.handler): each agent started on the
   * host, a restarted one too, hands its `update` frames here and takes the reports.
   */
  handlerFor(hostname: string): (host: UpdateHandlerHost) => UpdateFrameHandler {
    return (host) => {
      this.outboxes.set(hostname, host.enqueue);
      return {
        onFrame: async (body) => {
          try {
            await this.onFrame(hostname, body);
          } catch (err) {
            host.logger.error('simulated update failed', { err: errorText(err) });
          }
        },
      };
    };
  }

  private slot(hostname: string, name: string) {
    let byName = this.versions.get(hostname);
    if (!byName) this.versions.set(hostname, (byName = new Map()));
    let v = byName.get(name);
    if (!v) byName.set(name, (v = { previous: null, current: name === AGENT_RELEASE_NAME ? (this.o.agentVersion ?? null) : null }));
    return v;
  }

  private async onFrame(hostname: string, body: Body): Promise<void> {
    /** An agent release: the host comes back as a new agent (reporting through its own outbox) with the version it now runs. */
    const switchTo = async (version: string | null) => {
      const kind = body.op === 'rollback' ? body.kind : body.rollout.payload.release.kind;
      if (kind !== 'agent') return;
      if (version === null || !this.o.restartAgent) return;
      await this.o.restartAgent(hostname, version);
    };
    const wait = () => new Promise((r) => setTimeout(r, this.o.stepMs));
    const report = (data: Omit<UpdateStateData, 'rolloutId' | 'reason'> & { reason?: UpdateStateData['reason'] }) =>
      this.outboxes.get(hostname)?.(
        { kind: 'update-state', message: `${data.name}@${data.version}: ${data.state}`, data: { rolloutId: body.rolloutId, reason: null, ...data } },
        true,
      );
    if (body.op === 'rollback') {
      const v = this.slot(hostname, body.name);
      await wait();
      const back = v.previous;
      v.current = back;
      await switchTo(back);
      report({
        kind: body.kind,
        name: body.name,
        version: back ?? '',
        fromVersion: null,
        runningVersion: back,
        state: 'rolled-back',
        rolledBack: true,
        message: body.reason,
      });
      return;
    }
    const { release, target } = body.rollout.payload;
    const key = `${body.rolloutId}:${hostname}`;
    if (this.busy.has(key)) return; // a resend while this apply is under way
    const v = this.slot(hostname, release.name);
    const base = { kind: release.kind, name: release.name, version: release.version, rolledBack: false };
    if (v.current === release.version) {
      report({ ...base, fromVersion: v.previous, runningVersion: v.current, state: 'healthy', message: 'already running' });
      return;
    }
    this.busy.add(key);
    try {
      report({ ...base, fromVersion: v.current, runningVersion: v.current, state: 'verifying', message: '' });
      if (this.o.tuf) {
        try {
          // Awaited first: `x += await ...` would read x before the wait and lose concurrent hosts' bytes.
          const fetched = await downloadTarget(this.o.tuf, target.path);
          this.bytesFetched += fetched;
        } catch (err) {
          this.fetchErrors++;
          report({
            ...base,
            fromVersion: v.current,
            runningVersion: v.current,
            state: 'refused',
            reason: 'release_refused',
            message: `fetch failed: ${(err as Error).message}`,
          });
          return;
        }
      }
      await wait();
      report({ ...base, fromVersion: v.current, runningVersion: v.current, state: 'installing', message: '' });
      await wait();
      const fault = this.faults.get(hostname);
      if (fault) {
        report({
          ...base,
          fromVersion: v.current,
          runningVersion: fault.rolledBack ? v.current : release.version,
          state: 'failed',
          rolledBack: fault.rolledBack,
          message: fault.message,
        });
        if (!fault.rolledBack) {
          v.previous = v.current;
          v.current = release.version;
        }
        return;
      }
      v.previous = v.current;
      v.current = release.version;
      if (release.kind === 'agent' && this.o.restartAgent) {
        report({ ...base, fromVersion: v.previous, runningVersion: v.previous, state: 'restarting', message: '' });
        await switchTo(release.version);
      }
      report({ ...base, fromVersion: v.previous, runningVersion: v.current, state: 'healthy', message: '' });
    } finally {
      this.busy.delete(key);
    }
  }
}
