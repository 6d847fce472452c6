import { ALLOC_ID, AllocOutputData, AllocStateData } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { LeaseRole } from '../replicas/leases.js';
import type { AgentEventRecord } from '../store/store.js';
import type { WorkloadStore } from '../store/workload-records.js';
import type { AllocDelivery } from './alloc-delivery.js';
import type { AllocOutputWriter } from './alloc-output-writer.js';
import { applyHostReport, isFinalStatus } from './alloc-reports.js';
import { stopWords } from './job-evaluation.js';
import type { JobQueue } from './job-queue.js';
import type { JobReconciler } from './job-reconciler.js';
import type { JobTable } from './job-table.js';
import type { PurgedLeftovers } from './purged-leftovers.js';
import type { StoredView } from './stored-view.js';

export interface HostReportDeps {
  store: WorkloadStore;
  clock: Clock;
  log: { warn(obj: object, msg: string): void };
  lease: LeaseRole;
  view: Pick<StoredView, 'forTenure'>;
  queue: JobQueue;
  table: JobTable;
  leftovers: PurgedLeftovers;
  delivery: AllocDelivery;
  output: AllocOutputWriter;
  reconciler: Pick<JobReconciler, 'applyChange'>;
  /** Asks for an evaluation of the job soon. */
  kick(job: string): void;
  /** A purged job's allocation ended on its host: its GPUs are free. */
  endLeftover(allocId: string): void;
}

/**
 * What hosts say about allocations, taken in: state reports (the allocation follows its host's
 * word), output, and a host's session coming back (it is handed its starts and stops again).
 */
export class HostReportIntake {
  constructor(private readonly d: HostReportDeps) {}

  /**
   * An `alloc-state` event (stored already): the allocation follows its host's word. Store
   * failures reject (the item is resent). Only the scheduler's holder applies it: another
   * replica's view of the jobs may be behind (it would take a job submitted since it started for
   * a purged one and stop it); the report reaches the holder through the replica bridge.
   */
  async onHostReport(record: AgentEventRecord): Promise<void> {
    const { store, log, table, delivery } = this.d;
    if (!this.d.lease.holds()) return;
    await this.d.view.forTenure();
    const parsed = AllocStateData.safeParse(record.data);
    if (!parsed.success) {
      log.warn({ nodeId: record.nodeId, id: record.id }, 'an alloc-state event without valid data; ignored');
      return;
    }
    const report = parsed.data;
    // Ids are ours (ALLOC_ID); anything else names no allocation and is not worth a store read.
    const job = table.jobOf(report.allocId) ?? (ALLOC_ID.test(report.allocId) ? (await store.getAllocation(report.allocId))?.job : undefined);
    const entry = job === undefined ? undefined : table.get(job);
    if (!entry) {
      // Nothing the server wants: a job purged while its host was away. Tell a host that runs it to stop.
      const live = ['starting', 'running', 'restarting'].includes(report.state);
      const leftover = this.d.leftovers.get(report.allocId);
      if (leftover && leftover.nodeId === record.nodeId && !live) this.d.endLeftover(report.allocId);
      else if (live && report.specHash !== null && /^[0-9a-f]{64}$/.test(report.specHash)) {
        delivery.stop({ id: report.allocId, nodeId: record.nodeId }, report.specHash, 'the control plane does not know this allocation (its job was purged)');
      }
      return;
    }
    await this.d.queue.run(entry.name, async () => {
      const a = entry.allocs.get(report.allocId) ?? (await store.getAllocation(report.allocId));
      if (!a) return;
      if (a.nodeId !== record.nodeId) {
        log.warn({ nodeId: record.nodeId, allocId: a.id, allocNode: a.nodeId }, 'a host reported on an allocation of another node; ignored');
        return;
      }
      const version = entry.versions.get(a.jobVersion);
      if (report.specHash !== null && version && report.specHash !== version.specHash) {
        // The host speaks of another spec under this id (e.g. it refused a conflicting start while it runs ours): not a change of ours.
        log.warn({ nodeId: record.nodeId, allocId: a.id, state: report.state }, 'a host reported on an allocation under another spec hash; ignored');
        return;
      }
      const now = this.d.clock.now();
      const outcome = applyHostReport(a, report, now);
      if (outcome.patch) await this.d.reconciler.applyChange(entry, { alloc: a, patch: outcome.patch, ends: outcome.ends, stopReason: null });
      if (outcome.restop) {
        const v = entry.versions.get(a.jobVersion);
        if (v) delivery.stop(a, v.specHash, a.message || stopWords(a.stopCause ?? 'operator'));
      }
    });
    this.d.kick(entry.name);
  }

  /** An `alloc-output` event: stored as the allocation's output (resolves once stored). */
  async onHostOutput(record: AgentEventRecord): Promise<void> {
    const parsed = AllocOutputData.safeParse(record.data);
    if (!parsed.success) {
      this.d.log.warn({ nodeId: record.nodeId, id: record.id }, 'an alloc-output event without valid data; ignored');
      return;
    }
    const report = parsed.data;
    if (!ALLOC_ID.test(report.allocId)) return;
    const a = this.d.table.jobOf(report.allocId) === undefined ? await this.d.store.getAllocation(report.allocId) : this.d.table.followed(report.allocId);
    // Output of an allocation the server does not know, or of another node's, is not kept.
    if (!a || a.nodeId !== record.nodeId) return;
    await this.d.output.write({ allocId: report.allocId, stream: report.stream, chunk: report.chunk, data: report.data, at: record.ts });
  }

  /** Hands a host what it must run and stop again (after a reconnect, or when this replica takes the scheduler lease over). */
  resendTo(nodeId: string): void {
    const { table, leftovers, delivery } = this.d;
    if (leftovers.size > 0) for (const l of leftovers.onNode(nodeId)) delivery.stop({ id: l.allocId, nodeId }, l.specHash, l.reason);
    for (const id of table.allocsOn(nodeId)) {
      const entry = table.entryOf(id);
      const a = entry?.allocs.get(id);
      const v = a ? entry?.versions.get(a.jobVersion) : undefined;
      if (!a || !v) continue;
      if (a.desired === 'run' && !isFinalStatus(a.status)) delivery.start(a, v.signed);
      else if (a.desired === 'stop' && (a.status === 'stopping' || a.status === 'lost' || a.status === 'pending')) {
        delivery.stop(a, v.specHash, a.message || stopWords(a.stopCause ?? 'operator'));
      }
    }
  }
}
