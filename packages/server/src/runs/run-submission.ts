import { FleetError, MAX_FRAME_BYTES, capabilityId, commandAbilities, matchesSelector, parseSelector } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { RunClaims } from '../replicas/run-followers.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { RunRecord, RunTargetRecord, Store } from '../store/store.js';
import { ActiveRun } from './active-run.js';
import { resolveBatchPolicy, splitBatches, type BatchPolicy } from './batch-policy.js';
import { commandFrame, type RunScriptLookup } from './command-frame.js';
import { commandSummary } from './command-summary.js';
import { compactCounts, emptyCounts } from './run-outcome.js';
import type { RunScheduler } from './run-scheduler.js';
import { runView, type RunView } from './run-views.js';
import { parseSubmitRequest } from './submit-request.js';

/** The answer to a submission. */
export interface SubmitResult {
  id: string;
  state: RunRecord['state'];
  targets: Array<{ nodeId: string; hostname: string; batch: number; state: RunTargetRecord['state'] }>;
  run: RunView;
}

export interface SubmissionDeps {
  store: Pick<Store, 'getRun' | 'insertRun'>;
  registry: Pick<NodeRegistry, 'all' | 'labelsOf' | 'status'>;
  hub: EventHub;
  clock: Clock;
  claims: RunClaims;
  /** The runs this server follows (a new run joins them). */
  runs: Map<string, ActiveRun>;
  scheduler: RunScheduler;
  scriptLookup: RunScriptLookup;
  /** How far in the future issuedAt may be (operator clock skew). */
  futureSkewMs: number;
  /** How long after issuedAt + timeoutMs hosts may still answer. */
  graceMs: number;
}

/**
 * Takes a signed command: checks what the server can check (the ability covers the command, the
 * clock, the deadline, a new run id, the frame size), resolves the selector to hosts, splits them
 * into batches, records the run and starts rolling it out. Hosts verify the signature themselves.
 */
export class RunSubmission {
  constructor(private readonly d: SubmissionDeps) {}

  /** See RunService.submit. */
  async submit(input: unknown, actor: string, onlyNode?: string): Promise<SubmitResult> {
    const { registry } = this.d;
    const { command, batch } = parseSubmitRequest(input);
    const p = command.payload;
    const now = this.d.clock.now();
    if (!commandAbilities(p.command).includes(p.ability)) {
      throw new FleetError(
        'invalid_argument',
        `payload.ability '${p.ability}' does not cover a '${p.command.kind}' command (it needs ${commandAbilities(p.command).join(' or ')})`,
      );
    }
    if (p.issuedAt > now + this.d.futureSkewMs) {
      throw new FleetError(
        'invalid_argument',
        `payload.issuedAt ${new Date(p.issuedAt).toISOString()} is in the future: check the clock of the machine that signed it`,
      );
    }
    // By default the hosts' own acceptance deadline (commandDeadline): the server never waits on a host that would refuse the command as late.
    const deadline = p.issuedAt + p.timeoutMs + this.d.graceMs;
    if (deadline <= now) {
      throw new FleetError('invalid_argument', `the command was issued at ${new Date(p.issuedAt).toISOString()} and its timeout has passed: sign it again`);
    }
    if (this.d.runs.has(p.runId) || (await this.d.store.getRun(p.runId)) !== undefined) {
      throw new FleetError('already_exists', `run id '${p.runId}' was used before: every command needs a new runId`);
    }
    const selector = parseSelector(p.target);
    const frame = await commandFrame(command, this.d.scriptLookup);
    // An agent closes its link on a frame over the limit and the run would be re-sent on every reconnect: refuse it here.
    const frameBytes = Buffer.byteLength(JSON.stringify(frame), 'utf8');
    if (frameBytes > MAX_FRAME_BYTES) {
      throw new FleetError(
        'invalid_argument',
        `the command frame would be ${frameBytes.toLocaleString('en-US')} bytes, over the ${MAX_FRAME_BYTES.toLocaleString('en-US')} an agent accepts: shorten the command or its environment`,
      );
    }
    const nodes = registry
      .all()
      .filter((n) => {
        const status = registry.status(n);
        if (onlyNode !== undefined && n.id !== onlyNode) return false;
        return status !== 'DECOMMISSIONED' && status !== 'PENDING' && matchesSelector(selector, registry.labelsOf(n.id));
      })
      .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id));
    if (nodes.length === 0) {
      const which = onlyNode === undefined ? 'no node of the fleet' : `not node ${onlyNode}`;
      throw new FleetError('invalid_argument', `target '${p.target}' matches ${which} (pending and removed nodes are never targets)`);
    }
    const policy = resolveBatchPolicy(batch, nodes.length);
    const targets: RunTargetRecord[] = [];
    splitBatches(nodes, policy.batchSize).forEach((group, b) => {
      for (const n of group)
        targets.push({
          runId: p.runId,
          nodeId: n.id,
          hostname: n.hostname,
          batch: b,
          state: 'queued',
          exitCode: null,
          signal: null,
          reason: null,
          sentAt: null,
          startedAt: null,
          finishedAt: null,
          durationMs: null,
          outputBytes: 0,
          truncated: false,
        });
    });
    const counts = emptyCounts();
    counts.queued = targets.length;
    const record: RunRecord = {
      id: p.runId,
      createdAt: now,
      createdBy: actor,
      invoker: p.invoker,
      capabilityId: p.capability ? capabilityId(p.capability) : null,
      ability: p.ability,
      selector: p.target,
      summary: commandSummary(p.command),
      command,
      batch: policyRecord(policy),
      state: 'running',
      counts: compactCounts(counts),
      reason: null,
      deadline,
      finishedAt: null,
      canceledBy: null,
    };
    // Claimed before it is stored: another replica looking for runs to take up must not take it.
    if (!(await this.d.claims.claim(p.runId))) throw new FleetError('already_exists', `run id '${p.runId}' is followed by another replica`);
    // Stored before anything is sent: a host's answer always finds its run.
    await this.d.store.insertRun(record, targets);
    const run = new ActiveRun(record, command, frame, policy, targets);
    this.d.runs.set(run.id, run);
    this.d.hub.publish({ type: 'run', runId: run.id, change: 'created', state: 'running' });
    this.d.scheduler.pump(run);
    return {
      id: run.id,
      state: run.record.state,
      targets: targets.map((t) => ({ nodeId: t.nodeId, hostname: t.hostname, batch: t.batch, state: t.state })),
      run: runView(run.record),
    };
  }
}

/** The batch policy as stored with the run. */
function policyRecord(p: BatchPolicy): unknown {
  return { maxParallel: p.maxParallel, batchSize: p.batchSize, failureThreshold: p.failureThreshold, asked: p.asked };
}
