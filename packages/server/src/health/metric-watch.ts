import type { GpuSample, MetricsBody } from '@gpufleet/protocol';
import type { CompiledRule } from './health-policy.js';

/** What the watch reports about a metric rule on one GPU. */
export interface MetricWatchHost {
  /** Whether the rule has an active finding on the GPU. */
  isActive(nodeId: string, gpuKey: string, rule: CompiledRule): boolean;
  /** The condition has held for the rule's `for`: a new finding. */
  fire(nodeId: string, gpuKey: string, rule: CompiledRule, at: number, evidence: MetricEvidence): void;
  /** An active finding's condition holds again (its last match moves on). */
  rematch(nodeId: string, gpuKey: string, rule: CompiledRule, at: number): void;
  /** The metric has been back within bounds for the rule's recover.for. */
  recover(nodeId: string, gpuKey: string, rule: CompiledRule, at: number, evidence: MetricEvidence): void;
}

/** The metric values behind a finding or a recovery. */
export interface MetricEvidence {
  metric: string;
  above: number | null;
  below: number | null;
  /** Since when the condition (or the recovery) has held, epoch ms. */
  since: number;
  heldForMs: number;
  first: number;
  /** Highest value (above-rules) or lowest (below-rules) over the run. */
  extreme: number;
  last: number;
}

/** Run state of every metric rule on one GPU, in typed arrays indexed by the rule's metricIndex. */
interface GpuRuns {
  since: Float64Array; // start of the current run of matching samples; NaN: none
  first: Float64Array;
  extreme: Float64Array;
  recSince: Float64Array; // start of the current run of recovered samples; NaN: none
  recFirst: Float64Array;
  recExtreme: Float64Array;
}

function runs(n: number): GpuRuns {
  const nan = () => new Float64Array(n).fill(Number.NaN);
  return { since: nan(), first: nan(), extreme: nan(), recSince: nan(), recFirst: nan(), recExtreme: nan() };
}

/**
 * Evaluates the policy's metric rules on every GPU sample of every metrics frame. Built for the
 * hot path: it sees every frame of the fleet (10,000 nodes x 8 GPUs every 10 s), so a sample
 * costs a few array reads and comparisons per rule and allocates nothing unless a rule fires or
 * recovers. A missing reading (null) breaks both kinds of run: nothing is concluded from silence.
 */
export class MetricWatch {
  private readonly nodes = new Map<string, Map<string, GpuRuns>>();

  constructor(
    private readonly rules: readonly CompiledRule[],
    private readonly host: MetricWatchHost,
  ) {}

  observe(nodeId: string, body: MetricsBody, now: number): void {
    const n = this.rules.length;
    if (n === 0) return;
    let perNode = this.nodes.get(nodeId);
    if (!perNode) this.nodes.set(nodeId, (perNode = new Map()));
    const gpus = body.gpus;
    for (let g = 0; g < gpus.length; g++) {
      const s = gpus[g]!;
      const key = s.uuid ?? s.pciBusId ?? `#${s.index}`;
      let r = perNode.get(key);
      if (!r) perNode.set(key, (r = runs(n)));
      for (let i = 0; i < n; i++) this.step(nodeId, key, this.rules[i]!, i, s, r, now);
    }
  }

  private step(nodeId: string, key: string, rule: CompiledRule, i: number, s: GpuSample, r: GpuRuns, now: number): void {
    const v = rule.reader!(s);
    const above = rule.above !== null;
    const holds = v !== null && (above ? v > rule.above! : v < rule.below!);
    if (!this.host.isActive(nodeId, key, rule)) {
      r.recSince[i] = Number.NaN;
      if (!holds) {
        r.since[i] = Number.NaN;
        return;
      }
      if (Number.isNaN(r.since[i]!)) {
        r.since[i] = now;
        r.first[i] = v;
        r.extreme[i] = v;
      } else if (above ? v > r.extreme[i]! : v < r.extreme[i]!) {
        r.extreme[i] = v;
      }
      if (now - r.since[i]! >= rule.forMs) {
        this.host.fire(nodeId, key, rule, now, this.evidence(rule, r.since[i]!, r.first[i]!, r.extreme[i]!, v, now));
        r.since[i] = Number.NaN;
      }
      return;
    }
    // An active finding: it may match again, or recover.
    if (holds) {
      r.recSince[i] = Number.NaN;
      this.host.rematch(nodeId, key, rule, now);
      return;
    }
    const rec = rule.recover;
    if (rec.type !== 'metric') return;
    // Back within bounds: at or below the recovery value (or the threshold) for above-rules.
    const within = v !== null && (above ? v <= (rec.below ?? rule.above!) : v >= (rec.above ?? rule.below!));
    if (!within) {
      r.recSince[i] = Number.NaN;
      return;
    }
    if (Number.isNaN(r.recSince[i]!)) {
      r.recSince[i] = now;
      r.recFirst[i] = v;
      r.recExtreme[i] = v;
    } else if (above ? v > r.recExtreme[i]! : v < r.recExtreme[i]!) {
      // The worst value seen while recovering: the evidence shows how close it came.
      r.recExtreme[i] = v;
    }
    if (now - r.recSince[i]! >= rec.forMs) {
      this.host.recover(nodeId, key, rule, now, this.evidence(rule, r.recSince[i]!, r.recFirst[i]!, r.recExtreme[i]!, v, now));
      r.recSince[i] = Number.NaN;
    }
  }

  private evidence(rule: CompiledRule, since: number, first: number, extreme: number, last: number, now: number): MetricEvidence {
    return { metric: rule.metric!, above: rule.above, below: rule.below, since, heldForMs: now - since, first, extreme, last };
  }

  /** Forgets the runs of a node's GPU (or all its GPUs): after a clear, conditions start over. */
  reset(nodeId: string, gpuKey: string | null): void {
    if (gpuKey === null) this.nodes.delete(nodeId);
    else this.nodes.get(nodeId)?.delete(gpuKey);
  }
}
