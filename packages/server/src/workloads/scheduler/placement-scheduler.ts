import { allocName, FleetError, type JobSpec, type PlanFailure, parseSelector } from '@gpufleet/protocol';
import { drawAnywhere, drawFullestFirst, drawReady } from './candidate-search.js';
import { ClaimOverlay } from './claim-overlay.js';
import type { FleetIndex, GpuKind, IndexedNode } from './fleet-index.js';
import { gpuNeedOf } from './gpu-need.js';
import { type Fit, fitNode, type GroupNeeds } from './node-fit.js';
import { explainRejections, type PinMiss } from './rejections.js';
import type { ClaimView, Placement, PlacementRequest, ScheduleResult, Scheduler } from './scheduler-types.js';
import { spreadValue } from './job-label-counts.js';
import { SpreadCounts, type SpreadTally } from './spread-counts.js';

export interface PlacementSchedulerOptions {
  /** Uniform numbers in [0, 1): inject a seeded one so tests and benchmarks repeat. Default Math.random. */
  random?: () => number;
  /** Feasible nodes compared per placement (power of k choices). Defaults: binpack 3, spread 8. */
  candidates?: { binpack?: number; spread?: number };
  /** Nodes drawn per placement before a full scan takes over. Default 64. */
  maxProbes?: number;
}

type Candidate = Fit;

/** A group's state within one batch. */
interface GroupState {
  job: JobSpec;
  group: string;
  needs: GroupNeeds;
  /** The accepted GPU kinds, as a list to draw from. */
  kinds: GpuKind[];
  /** A full scan found no node: every later unpinned request of the group fails the same way. */
  exhausted: boolean;
  unplaced: number;
  /** Rejections counted by the group's first failed full scan. */
  tally: Map<string, number> | null;
  pinMisses: PinMiss[];
  /** Spread over a label: the job's allocations per label value, as this batch sees them. */
  spreadTally: SpreadTally | null;
}

/** Binpack keeps GPUs idle on as few nodes as it can; spread keeps a job's allocations apart. */
function better(a: Candidate, b: Candidate, strategy: JobSpec['strategy']): boolean {
  if (strategy === 'spread') {
    if (a.spread !== b.spread) return a.spread < b.spread;
    if (a.onNode !== b.onNode) return a.onNode < b.onNode;
    if (a.freeAfter !== b.freeAfter) return a.freeAfter > b.freeAfter;
    return a.locality > b.locality;
  }
  if (a.freeAfter !== b.freeAfter) return a.freeAfter < b.freeAfter;
  return a.locality > b.locality;
}

/** The score a plan shows: binpack, how full the node ends up (+0.1 for GPUs close together); spread, 1/(1 + allocations of the job there). */
function scoreOf(c: Candidate, strategy: JobSpec['strategy'], want: number): number {
  const raw = strategy === 'spread' ? 1 / (1 + c.spread) : 1 - c.freeAfter / Math.max(1, c.entry.node.gpus.length) + (want > 1 ? 0.1 * c.locality : 0);
  return Math.round(raw * 1000) / 1000;
}

/**
 * The scheduler of issue 10: for each request, the nodes that can take it (node READY, job
 * constraints, pin, avoid, GPU vendor, model and memory, enough free READY GPUs, CPU and memory
 * left), the best of them by the job's strategy, and specific GPUs on it, close together on the
 * PCI tree. It draws a bounded random sample of candidates from the fleet index's free-GPU tiers
 * and scans the whole fleet only when the sample finds nothing: that scan either finds the node
 * the sample missed or counts why every node refused, for `jobs plan`.
 */
export class PlacementScheduler implements Scheduler {
  private readonly random: () => number;
  private readonly binpackCandidates: number;
  private readonly spreadCandidates: number;
  private readonly maxProbes: number;
  private readonly parsedConstraints = new WeakMap<JobSpec, GroupNeeds['constraints']>();

  constructor(
    private readonly fleet: FleetIndex,
    options: PlacementSchedulerOptions = {},
  ) {
    this.random = options.random ?? Math.random;
    this.binpackCandidates = Math.max(1, options.candidates?.binpack ?? 3);
    this.spreadCandidates = Math.max(1, options.candidates?.spread ?? 8);
    this.maxProbes = Math.max(1, options.maxProbes ?? 64);
  }

  schedule(requests: readonly PlacementRequest[], claims: ClaimView): ScheduleResult {
    const overlay = new ClaimOverlay(claims);
    const spread = new SpreadCounts(this.fleet, claims);
    const groups = new Map<JobSpec, Map<string, GroupState>>();
    const placements: Placement[] = [];
    let nodesEvaluated = 0;
    const evaluate = (entry: IndexedNode, state: GroupState, request: PlacementRequest): Candidate | string => {
      nodesEvaluated++;
      const fit = fitNode(entry, state.needs, request.avoid, overlay);
      if (typeof fit === 'string') return fit;
      const job = state.job;
      if (job.strategy === 'spread') {
        fit.onNode = overlay.jobAllocsOnNode(job.name, entry.node.id);
        if (job.spread === undefined) fit.spread = fit.onNode;
        else {
          state.spreadTally ??= spread.tally(job.name, job.spread);
          fit.spread = state.spreadTally.count(spreadValue(entry.node.labels, job.spread));
        }
      }
      return fit;
    };

    try {
      for (const request of requests) {
        const state = this.groupState(groups, request);
        const name = allocName(request.group, request.index);
        const pinned = request.job.pin[name];
        let chosen: Candidate | null = null;
        if (pinned !== undefined) {
          const entry = this.fleet.lookup(pinned);
          const result = entry ? evaluate(entry, state, request) : null;
          if (result === null || typeof result === 'string') state.pinMisses.push({ allocation: name, target: pinned, key: result });
          else chosen = result;
        } else if (!state.exhausted) {
          chosen = this.sample(state, request, evaluate) ?? this.fullScan(state, request, evaluate);
          if (chosen === null && !request.avoid?.length) state.exhausted = true;
        }
        if (chosen === null) {
          state.unplaced++;
          continue;
        }
        placements.push(this.take(chosen, state, request, overlay, spread));
      }
    } finally {
      // The tiers were revised for this batch's placements; the claims say what is really taken.
      for (const nodeId of overlay.touchedNodes()) this.fleet.refresh(nodeId);
    }

    const failures: PlanFailure[] = [];
    for (const byGroup of groups.values()) {
      for (const state of byGroup.values()) {
        if (state.unplaced === 0) continue;
        const needs = { gpu: state.needs.gpu, cpu: state.needs.cpu, memory: state.needs.memory, constraints: state.job.constraints };
        failures.push(explainRejections(state.group, state.unplaced, state.tally ?? new Map(), state.pinMisses, needs, this.fleet.size));
      }
    }
    return { placements, failures, nodesEvaluated };
  }

  /** A random sample of nodes in the strategy's order; the best feasible one, or null. */
  private sample(
    state: GroupState,
    request: PlacementRequest,
    evaluate: (e: IndexedNode, s: GroupState, r: PlacementRequest) => Candidate | string,
  ): Candidate | null {
    const strategy = state.job.strategy;
    const enough = strategy === 'spread' ? this.spreadCandidates : this.binpackCandidates;
    let best: Candidate | null = null;
    let found = 0;
    const draw = {
      random: this.random,
      maxProbes: this.maxProbes,
      visit: (entry: IndexedNode) => {
        const result = evaluate(entry, state, request);
        if (typeof result === 'string') return false;
        found++;
        if (best === null || better(result, best, strategy)) best = result;
        return found >= enough;
      },
    };
    const want = state.needs.gpu.count;
    if (want === 0) drawReady(this.fleet.readyNodes, draw);
    else if (strategy === 'spread') drawAnywhere(state.kinds, want, draw);
    else drawFullestFirst(state.kinds, want, () => found, draw);
    return best;
  }

  /** Every node: the best that fits, or null with the group's rejections counted. */
  private fullScan(
    state: GroupState,
    request: PlacementRequest,
    evaluate: (e: IndexedNode, s: GroupState, r: PlacementRequest) => Candidate | string,
  ): Candidate | null {
    const tally = new Map<string, number>();
    let best: Candidate | null = null;
    for (const entry of this.fleet.entries()) {
      const result = evaluate(entry, state, request);
      if (typeof result === 'string') tally.set(result, (tally.get(result) ?? 0) + 1);
      else if (best === null || better(result, best, state.job.strategy)) best = result;
    }
    if (best === null && state.tally === null) state.tally = tally;
    return best;
  }

  /** Records the placement in the batch's overlay and the index's tiers, and shapes it. */
  private take(chosen: Candidate, state: GroupState, request: PlacementRequest, overlay: ClaimOverlay, spread: SpreadCounts): Placement {
    const { node } = chosen.entry;
    const job = state.job;
    const gpus = chosen.positions.map((p) => node.gpus[p]!);
    if (job.strategy === 'spread' && job.spread !== undefined) spread.add(job.name, job.spread, node.labels);
    overlay.take({
      holder: `${job.name}/${allocName(request.group, request.index)}`,
      job: job.name,
      nodeId: node.id,
      gpuIndexes: gpus.map((g) => g.index),
      cpu: state.needs.cpu,
      memory: state.needs.memory,
    });
    const takenByKind = new Map<GpuKind, number>();
    for (const p of chosen.positions) {
      const kind = chosen.entry.kinds[p]!;
      takenByKind.set(kind, (takenByKind.get(kind) ?? 0) + 1);
    }
    for (const [kind, n] of takenByKind) this.fleet.reviseFree(chosen.entry, kind, (chosen.entry.filed.get(kind.id) ?? 0) - n);
    return {
      request,
      nodeId: node.id,
      hostname: node.hostname,
      gpus: gpus.map((g) => ({ index: g.index, uuid: g.uuid })),
      cpu: state.needs.cpu,
      memory: state.needs.memory,
      score: scoreOf(chosen, job.strategy, state.needs.gpu.count),
    };
  }

  private groupState(groups: Map<JobSpec, Map<string, GroupState>>, request: PlacementRequest): GroupState {
    let byGroup = groups.get(request.job);
    if (!byGroup) {
      byGroup = new Map();
      groups.set(request.job, byGroup);
    }
    let state = byGroup.get(request.group);
    if (state) return state;
    const spec = request.job.allocations[request.group];
    if (!spec) throw new FleetError('invalid_argument', `job '${request.job.name}' has no allocation group '${request.group}'`);
    const gpu = gpuNeedOf(spec.resources);
    const kinds = [...this.fleet.kindsFor(gpu)];
    state = {
      job: request.job,
      group: request.group,
      needs: {
        constraints: this.constraintsOf(request.job),
        gpu,
        kinds: new Set(kinds),
        cpu: spec.resources.cpu ?? null,
        memory: spec.resources.memory ?? null,
      },
      kinds,
      exhausted: false,
      unplaced: 0,
      tally: null,
      pinMisses: [],
      spreadTally: null,
    };
    byGroup.set(request.group, state);
    return state;
  }

  private constraintsOf(job: JobSpec): GroupNeeds['constraints'] {
    let parsed = this.parsedConstraints.get(job);
    if (!parsed) {
      parsed = job.constraints.map((source) => ({ source, selector: parseSelector(source) }));
      this.parsedConstraints.set(job, parsed);
    }
    return parsed;
  }
}
