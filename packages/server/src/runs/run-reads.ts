import { FleetError } from '@gpufleet/protocol';
import type { NodeRegistry } from '../services/node-registry.js';
import type { Store } from '../store/store.js';
import type { ActiveRun } from './active-run.js';
import { outputView, runView, type RunOutputView, type RunView } from './run-views.js';

export interface RunReadDeps {
  store: Pick<Store, 'getRun' | 'listRuns' | 'listRunTargets' | 'listRunOutput'>;
  registry: Pick<NodeRegistry, 'resolve'>;
  /** The runs this server follows: newer than their stored copy by up to one write tick. */
  runs: ReadonlyMap<string, ActiveRun>;
  /** Writes pending progress (output reads must see everything taken). */
  flush(): Promise<void>;
}

/** Runs as the API shows them: a live run from memory, any other from the store. */
export class RunReads {
  constructor(private readonly d: RunReadDeps) {}

  /** One run with all its targets; not_found when unknown. */
  async get(runId: string): Promise<RunView> {
    const run = this.d.runs.get(runId);
    if (run) return runView(run.record, [...run.targets.values()]);
    const record = await this.d.store.getRun(runId);
    if (!record) throw new FleetError('not_found', `no run '${runId}'`);
    return runView(record, await this.d.store.listRunTargets(runId));
  }

  /** Runs newest first, without targets (counts only). */
  async list(query: { limit?: number; before?: number; active?: boolean } = {}): Promise<RunView[]> {
    const records = await this.d.store.listRuns(query);
    // Runs in memory are newer than their stored copy by up to one write tick.
    return records.map((r) => runView(this.d.runs.get(r.id)?.record ?? r));
  }

  /** Stored output of a run in arrival order, optionally of one host (id, prefix or hostname). */
  async output(query: { runId: string; node?: string; after?: number; limit?: number }): Promise<{ items: RunOutputView[]; next: number | null }> {
    const record = this.d.runs.get(query.runId)?.record ?? (await this.d.store.getRun(query.runId));
    if (!record) throw new FleetError('not_found', `no run '${query.runId}'`);
    const nodeId = query.node === undefined ? undefined : this.targetOf(query.runId, query.node);
    await this.d.flush();
    const limit = query.limit ?? 1000;
    const rows = await this.d.store.listRunOutput({
      runId: query.runId,
      ...(nodeId ? { nodeId } : {}),
      ...(query.after === undefined ? {} : { after: query.after }),
      limit,
    });
    return { items: rows.map(outputView), next: rows.length === limit ? rows[rows.length - 1]!.id : null };
  }

  private targetOf(runId: string, ref: string): string {
    const run = this.d.runs.get(runId);
    if (run?.targets.has(ref)) return ref;
    try {
      return this.d.registry.resolve(ref).id;
    } catch (err) {
      if (FleetError.is(err, 'not_found'))
        throw new FleetError('not_found', `no node '${ref}' (give an id, an id prefix or a hostname of one of the run's hosts)`);
      throw err;
    }
  }
}
