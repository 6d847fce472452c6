import type { PoolOpStage } from '@gpufleet/protocol';
import { formatMs } from '../health/causes.js';
import type { NodeRecord } from '../store/store.js';
import type { PoolOperationPatch, PoolOperationRecord } from '../store/pool-records.js';
import type { PoolEventLog } from './pool-event-log.js';
import { StepKit, type PoolPass, type RunnerSources } from './step-kit.js';
import { afterProvisionError, firstUntriedZone, leastLoadedZone } from './provision-retry.js';
import { asProviderError } from './provider-errors.js';
import { agentUserData } from './providers/agent-user-data.js';
import type { ProviderInstance } from './providers/cloud-provider.js';
import { mayTakeDown } from './unavailable-budget.js';

/**
 * Moves pool operations through their stages (pool-views.ts POOL_OP_STAGES). Each stage is
 * stored before its step with a compare-and-set, so a restarted server resumes where it was
 * and two servers never take the same step: provision (requested → provisioning → joining →
 * done), replace (the same, then draining → terminating → done), scale-down (draining →
 * terminating → done). A replacement that cannot come up ends failed with the old node kept,
 * cordoned; the pool never loses a node before its successor is READY.
 */
export class OperationRunner {
  /** When a replacement of a node last failed (the reconciler waits before trying again). */
  readonly replaceFailures = new Map<string, { at: number; count: number }>();

  private readonly kit: StepKit;

  constructor(
    private readonly o: RunnerSources,
    private readonly events: PoolEventLog,
  ) {
    this.kit = new StepKit(o, events);
  }

  async advance(op: PoolOperationRecord, pass: PoolPass): Promise<void> {
    if (op.notBefore !== null && this.o.clock.now() < op.notBefore) return;
    switch (op.stage) {
      case 'requested':
        return this.request(op, pass);
      case 'provisioning':
        return this.resumeProvisioning(op, pass);
      case 'joining':
        return this.joining(op, pass);
      case 'draining':
        return this.draining(op, pass);
      case 'terminating':
        return this.terminating(op, pass);
      default:
        this.kit.forget(op.id);
    }
  }

  /** Whether `advance` would call the provider first (such steps may run side by side). */
  static callsProviderFirst(op: PoolOperationRecord): boolean {
    return op.stage === 'requested' || (op.stage === 'provisioning' && op.instanceId === null);
  }

  // ---- provision ----

  private async request(op: PoolOperationRecord, pass: PoolPass): Promise<void> {
    if (!pass.built) return this.kit.hold(op, pass, `provider ${pass.spec.provider} is not available`);
    if (op.kind === 'replace') {
      if (!pass.replacesAllowed.has(op.id)) {
        return this.kit.hold(op, pass, `waiting: ${pass.spec.health.maxParallelReplacements} replacements in flight already (max_parallel_replacements)`);
      }
      await this.kit.cordonOld(op, pass);
    }
    // Picked and counted before the next await, so provisions started side by side spread out.
    const untried = leastLoadedZone(pass.spec.zones, op.zonesTried, pass.zoneLoad);
    const zone = op.zone ?? (typeof untried === 'string' ? untried : null);
    if (zone !== null) pass.zoneLoad.set(zone, (pass.zoneLoad.get(zone) ?? 0) + 1);
    const minted = await this.o.joinTokens.create(
      {
        description: `pool ${pass.name}: ${op.kind} ${op.id}`.slice(0, 200),
        labels: { ...pass.spec.labels, pool: pass.name },
        reusable: false,
        expiresIn: `${Math.ceil(pass.spec.health.joinTimeoutMs / 1000)}s`,
      },
      `pool:${pass.name}`,
    );
    const patch = {
      joinTokenId: minted.view.id,
      zone,
      zonesTried: zone !== null && !op.zonesTried.includes(zone) ? [...op.zonesTried, zone] : op.zonesTried,
      attempts: op.attempts + 1,
      notBefore: null,
      instanceId: null,
      newNodeId: null,
      deadlineAt: null,
    } satisfies PoolOperationPatch;
    if (!(await this.kit.move(op, 'requested', 'provisioning', patch))) {
      await this.kit.revoke(minted.view.id);
      return;
    }
    const current: PoolOperationRecord = { ...op, ...patch, stage: 'provisioning' };
    const what = op.kind === 'replace' ? ` to replace ${this.kit.label(op.oldNodeId)}` : '';
    await this.events.emit(
      pass.name,
      'provision-started',
      `provisioning ${pass.spec.instanceType}${zone ? ` in ${zone}` : ''}${what} (attempt ${current.attempts})${op.kind === 'provision' ? `: ${op.reason}` : ''}`,
      { operationId: op.id, nodeId: op.oldNodeId },
    );
    await this.provision(current, pass, minted.token);
  }

  private async provision(op: PoolOperationRecord, pass: PoolPass, token: string): Promise<void> {
    const labels = { ...pass.spec.labels, pool: pass.name };
    let instance: ProviderInstance;
    try {
      instance = await pass.built!.provider.provision({
        operationId: op.id,
        pool: pass.name,
        instanceType: pass.spec.instanceType,
        zone: op.zone,
        image: pass.spec.image,
        joinToken: token,
        userData: agentUserData({ joinToken: token }),
        labels,
      });
    } catch (err) {
      return this.provisionFailed(op, pass, err);
    }
    await this.recordInstance(op, pass, instance);
  }

  /** The provider accepted: the instance becomes a joining member and the operation waits for its node. */
  private async recordInstance(op: PoolOperationRecord, pass: PoolPass, instance: ProviderInstance): Promise<boolean> {
    const now = this.o.clock.now();
    // Recorded before the stage moves (a crash in between is resumed by adoption), never over a record
    // another server made meanwhile (a late answer must not set a joined member back).
    const known = (await this.o.store.listPoolMembers({ pool: pass.name, includeTerminated: true })).some((m) => m.instanceId === instance.id);
    if (!known)
      await this.o.store.putPoolMember({
        instanceId: instance.id,
        pool: pass.name,
        provider: pass.spec.provider,
        operationId: op.id,
        joinTokenId: op.joinTokenId ?? '',
        nodeId: null,
        instanceType: instance.instanceType || pass.spec.instanceType,
        zone: instance.zone ?? op.zone,
        state: 'joining',
        pricePerHour: pass.spec.pricePerHour ?? instance.pricePerHour ?? pass.fallbackPrice,
        provisionedAt: now,
        joinedAt: null,
        terminatedAt: null,
        idleSince: null,
      });
    const deadlineAt = now + pass.spec.health.joinTimeoutMs;
    const moved = await this.kit.move(op, 'provisioning', 'joining', { instanceId: instance.id, zone: instance.zone ?? op.zone, deadlineAt, error: null });
    if (moved) {
      await this.kit.audited(pass, 'pool.provision', instance.id, {
        operation: op.id,
        kind: op.kind,
        instanceType: instance.instanceType,
        zone: instance.zone ?? op.zone,
      });
      await this.events.emit(
        pass.name,
        'provisioned',
        `instance ${instance.id} accepted${(instance.zone ?? op.zone) ? ` in ${instance.zone ?? op.zone}` : ''}; it has ${formatMs(pass.spec.health.joinTimeoutMs)} to join`,
        { operationId: op.id, instanceId: instance.id },
      );
    }
    return moved;
  }

  private async provisionFailed(op: PoolOperationRecord, pass: PoolPass, thrown: unknown): Promise<void> {
    const err = asProviderError(thrown);
    const now = this.o.clock.now();
    if (op.joinTokenId) await this.kit.revoke(op.joinTokenId);
    const next = afterProvisionError(
      { kind: err.kind, message: err.message, ...(err.details.retryAfterMs === undefined ? {} : { retryAfterMs: err.details.retryAfterMs }) },
      { zones: pass.spec.zones, zonesTried: op.zonesTried, attempts: op.attempts, now },
    );
    const where = op.zone ? ` in ${op.zone}` : '';
    if (next.kind === 'next-zone') {
      if (await this.kit.move(op, 'provisioning', 'requested', { zone: next.zone, joinTokenId: null, error: err.message })) {
        await this.events.emit(pass.name, 'provision-failed', `${err.kind}${where}: ${err.message}; trying ${next.zone}`, {
          operationId: op.id,
          nodeId: op.oldNodeId,
        });
      }
      return;
    }
    if (next.kind === 'retry') {
      if (await this.kit.move(op, 'provisioning', 'requested', { notBefore: next.notBefore, joinTokenId: null, error: err.message })) {
        await this.events.emit(pass.name, 'held', `${err.kind}${where}: ${err.message}; trying again in ${formatMs(next.notBefore - now)}`, {
          operationId: op.id,
        });
      }
      return;
    }
    await this.fail(op, 'provisioning', next.message, pass);
  }

  /** A `provisioning` stage with no instance was left by a server that stopped mid-call: adopt what it started, or ask again. */
  private async resumeProvisioning(op: PoolOperationRecord, pass: PoolPass): Promise<void> {
    if (op.instanceId !== null) {
      await this.kit.move(op, 'provisioning', 'joining', {});
      return;
    }
    if (!pass.built) return this.kit.hold(op, pass, `provider ${pass.spec.provider} is not available`);
    let found: ProviderInstance | undefined;
    try {
      found = (await pass.built.provider.list()).find((i) => i.operationId === op.id && i.state !== 'terminated' && i.state !== 'stopping');
    } catch (err) {
      return this.kit.hold(op, pass, `cannot list ${pass.spec.provider}'s instances to resume: ${asProviderError(err).message}`);
    }
    if (found) {
      if (await this.recordInstance(op, pass, found)) {
        await this.events.emit(pass.name, 'resumed', `resumed after a restart: instance ${found.id} was started for this operation; adopted`, {
          operationId: op.id,
          instanceId: found.id,
        });
      }
      return;
    }
    if (op.joinTokenId) await this.kit.revoke(op.joinTokenId);
    if (!(await this.kit.move(op, 'provisioning', 'requested', { joinTokenId: null }))) return;
    await this.events.emit(pass.name, 'resumed', `resumed after a restart: no instance was started for this operation; asking ${pass.spec.provider} again`, {
      operationId: op.id,
    });
    await this.request({ ...op, stage: 'requested', joinTokenId: null }, pass);
  }

  private async joining(op: PoolOperationRecord, pass: PoolPass): Promise<void> {
    // The successor was READY once (newNodeId set): the old node's drain waits only for the budget.
    if (op.kind === 'replace' && op.newNodeId !== null) return this.startDrain(op, pass, 'joining');
    const node = op.joinTokenId ? pass.nodeByToken(op.joinTokenId) : undefined;
    let current = op;
    if (node && this.o.registry.status(node) === 'READY') {
      if (op.newNodeId === null) {
        const patch = { newNodeId: node.id, deadlineAt: null };
        if (!(await this.kit.move(op, 'joining', 'joining', patch))) return;
        current = { ...op, ...patch };
        const member = pass.members.find((m) => m.record.instanceId === op.instanceId);
        const took = member ? ` ${formatMs(this.o.clock.now() - member.record.provisionedAt)} after provisioning` : '';
        await this.events.emit(pass.name, 'joined', `${node.hostname} joined and is READY${took}`, {
          operationId: op.id,
          nodeId: node.id,
          instanceId: op.instanceId,
        });
      }
      if (current.kind === 'provision') {
        await this.kit.move(current, 'joining', 'done', {});
        return;
      }
      return this.startDrain(current, pass, 'joining');
    }
    if (current.deadlineAt !== null && this.o.clock.now() >= current.deadlineAt) return this.joinTimedOut(current, pass, node);
  }

  private async joinTimedOut(op: PoolOperationRecord, pass: PoolPass, node: NodeRecord | undefined): Promise<void> {
    if (!pass.built) return this.kit.hold(op, pass, `provider ${pass.spec.provider} is not available`);
    const instanceId = op.instanceId!;
    try {
      await pass.built.provider.terminate(instanceId);
    } catch (err) {
      return this.kit.hold(op, pass, `instance ${instanceId} did not join; terminating it failed: ${asProviderError(err).message}`);
    }
    if (op.joinTokenId) await this.kit.revoke(op.joinTokenId);
    await this.kit.audited(pass, 'pool.terminate', instanceId, { operation: op.id, reason: 'did not join in time' });
    await this.kit.endMember(pass, (m) => m.record.instanceId === instanceId);
    if (node) await this.kit.decommission(node.id, pass, `instance ${instanceId} did not become READY in time`);
    const message = `instance ${instanceId} did not join within ${formatMs(pass.spec.health.joinTimeoutMs)}; terminated`;
    const next = op.kind === 'replace' ? firstUntriedZone(pass.spec.zones, op.zonesTried) : undefined;
    if (typeof next === 'string') {
      const patch = { zone: next, instanceId: null, joinTokenId: null, deadlineAt: null, newNodeId: null, error: message };
      if (await this.kit.move(op, 'joining', 'requested', patch)) {
        await this.events.emit(pass.name, 'provision-failed', `${message}; trying ${next}`, { operationId: op.id, instanceId });
      }
      return;
    }
    if (op.kind === 'provision') {
      if (await this.kit.move(op, 'joining', 'failed', { error: message, deadlineAt: null })) {
        await this.events.emit(pass.name, 'provision-failed', message, { operationId: op.id, instanceId });
      }
      return;
    }
    await this.fail(op, 'joining', message, pass);
  }

  // ---- drain and terminate ----

  private async startDrain(op: PoolOperationRecord, pass: PoolPass, from: PoolOpStage): Promise<void> {
    const oldId = op.oldNodeId!;
    const budget = mayTakeDown(oldId, pass.availability, pass.spec.health.maxUnavailable);
    if (!budget.ok) {
      return this.kit.hold(
        op,
        pass,
        `waiting to drain ${this.kit.label(oldId)}: ${budget.unavailable} of ${budget.allowed} node${budget.allowed === 1 ? '' : 's'} allowed unavailable already (max_unavailable)`,
      );
    }
    if (!(await this.kit.move(op, from, 'draining', {}))) return;
    for (const a of pass.availability) if (a.nodeId === oldId) Object.assign(a, { ready: false, awaitingReplacement: false });
    const why = op.kind === 'replace' ? `its replacement ${this.kit.label(op.newNodeId)} is READY` : op.reason;
    await this.events.emit(pass.name, 'draining', `draining ${this.kit.label(oldId)}: ${why}`, { operationId: op.id, nodeId: oldId });
    await this.draining({ ...op, stage: 'draining' }, pass);
  }

  private async draining(op: PoolOperationRecord, pass: PoolPass): Promise<void> {
    const node = op.oldNodeId === null ? undefined : this.o.registry.get(op.oldNodeId);
    if (node && node.adminState !== 'decommissioned') {
      if (node.adminState !== 'draining' && node.adminState !== 'drained') {
        const why = op.kind === 'replace' ? `replaced by pool ${pass.name} (${op.id})` : `removed by pool ${pass.name} (${op.id}): idle`;
        try {
          await this.o.drains.drain(node.id, `pool:${pass.name}`, why);
        } catch (err) {
          return this.kit.hold(op, pass, `cannot drain ${node.hostname}: ${(err as Error).message}`);
        }
      }
      let running = 0;
      for (const work of this.o.runningWork) running += work.runningOn(node.id);
      // Never terminate under running work, even past a drain deadline: allocations move first.
      if (running > 0) {
        if (this.o.registry.get(node.id)?.adminState === 'drained') {
          return this.kit.hold(
            op,
            pass,
            `${node.hostname} is DRAINED but ${running} allocation${running === 1 ? '' : 's'} or run${running === 1 ? '' : 's'} still on it`,
          );
        }
        return;
      }
    }
    if (!(await this.kit.move(op, 'draining', 'terminating', {}))) return;
    await this.terminating({ ...op, stage: 'terminating' }, pass);
  }

  private async terminating(op: PoolOperationRecord, pass: PoolPass): Promise<void> {
    const member = pass.members.find(
      (m) => (op.kind === 'scale-down' && m.record.instanceId === op.instanceId) || (op.oldNodeId !== null && m.record.nodeId === op.oldNodeId),
    );
    const instanceId = member?.record.instanceId ?? (op.kind === 'scale-down' ? op.instanceId : null);
    if (instanceId !== null) {
      if (!pass.built) return this.kit.hold(op, pass, `provider ${pass.spec.provider} is not available`);
      try {
        await pass.built.provider.terminate(instanceId);
      } catch (err) {
        return this.kit.hold(op, pass, `terminating ${instanceId} failed: ${asProviderError(err).message}`);
      }
      await this.kit.audited(pass, 'pool.terminate', instanceId, { operation: op.id, kind: op.kind, node: op.oldNodeId });
      await this.kit.endMember(pass, (m) => m.record.instanceId === instanceId);
    }
    if (op.oldNodeId !== null) await this.kit.decommission(op.oldNodeId, pass, `instance ${instanceId ?? '?'} terminated by pool ${pass.name}`);
    if (!(await this.kit.move(op, 'terminating', 'done', {}))) return;
    await this.events.emit(pass.name, 'terminated', `terminated ${instanceId ?? 'no instance'} (${this.kit.label(op.oldNodeId)})`, {
      operationId: op.id,
      nodeId: op.oldNodeId,
      instanceId,
    });
    if (op.kind === 'replace') {
      await this.events.emit(pass.name, 'replace-done', `${this.kit.label(op.oldNodeId)} replaced by ${this.kit.label(op.newNodeId)}`, {
        operationId: op.id,
        nodeId: op.newNodeId,
      });
    }
  }

  // ---- helpers ----

  private async fail(op: PoolOperationRecord, from: PoolOpStage, message: string, pass: PoolPass): Promise<void> {
    if (!(await this.kit.move(op, from, 'failed', { error: message, deadlineAt: null }))) return;
    if (op.kind === 'replace' && op.oldNodeId !== null) {
      const before = this.replaceFailures.get(op.oldNodeId);
      this.replaceFailures.set(op.oldNodeId, { at: this.o.clock.now(), count: (before?.count ?? 0) + 1 });
      await this.events.emit(pass.name, 'replace-failed', `replacing ${this.kit.label(op.oldNodeId)} failed: ${message}; it stays cordoned`, {
        operationId: op.id,
        nodeId: op.oldNodeId,
      });
      return;
    }
    await this.events.emit(pass.name, 'provision-failed', message, { operationId: op.id });
  }
}
