import { verdictRank, type HealthVerdict } from '@gpufleet/protocol';
import type { HealthFindingRecord } from '../store/store.js';

/** The worst finding of a set and its verdict (healthy with no finding when the set is empty). */
export interface Worst {
  verdict: HealthVerdict;
  finding: HealthFindingRecord | null;
}

const HEALTHY: Worst = { verdict: 'healthy', finding: null };

function worstOf(findings: Iterable<HealthFindingRecord>, start: Worst = HEALTHY): Worst {
  let best = start;
  for (const f of findings) {
    // Worse verdict wins; between equals, the older finding stays the cause.
    if (verdictRank(f.verdict) > verdictRank(best.verdict) || (f.verdict === best.verdict && best.finding !== null && f.since < best.finding.since)) {
      best = { verdict: f.verdict, finding: f };
    }
  }
  return best;
}

/**
 * The active findings in memory: node -> target ('' for the node itself, else the GPU key) ->
 * rule -> finding. Verdicts are computed from here: a GPU's is the worst of its findings, a
 * node's the worst of all its findings.
 */
export class FindingBook {
  private readonly byNode = new Map<string, Map<string, Map<string, HealthFindingRecord>>>();

  get(nodeId: string, gpuKey: string | null, rule: string): HealthFindingRecord | undefined {
    return this.byNode
      .get(nodeId)
      ?.get(gpuKey ?? '')
      ?.get(rule);
  }

  put(f: HealthFindingRecord): void {
    let targets = this.byNode.get(f.nodeId);
    if (!targets) this.byNode.set(f.nodeId, (targets = new Map()));
    let rules = targets.get(f.gpuKey ?? '');
    if (!rules) targets.set(f.gpuKey ?? '', (rules = new Map()));
    rules.set(f.rule, f);
  }

  delete(nodeId: string, gpuKey: string | null, rule: string): boolean {
    const targets = this.byNode.get(nodeId);
    const rules = targets?.get(gpuKey ?? '');
    if (!rules?.delete(rule)) return false;
    if (rules.size === 0) targets!.delete(gpuKey ?? '');
    if (targets!.size === 0) this.byNode.delete(nodeId);
    return true;
  }

  /** Findings on one target (the node's own when gpuKey is null). */
  onTarget(nodeId: string, gpuKey: string | null): HealthFindingRecord[] {
    return [
      ...(this.byNode
        .get(nodeId)
        ?.get(gpuKey ?? '')
        ?.values() ?? []),
    ];
  }

  /** Every finding of a node, its GPUs' included. */
  ofNode(nodeId: string): HealthFindingRecord[] {
    const out: HealthFindingRecord[] = [];
    for (const rules of this.byNode.get(nodeId)?.values() ?? []) out.push(...rules.values());
    return out;
  }

  *all(): Generator<HealthFindingRecord> {
    for (const targets of this.byNode.values()) for (const rules of targets.values()) yield* rules.values();
  }

  /** Verdict of one target: a GPU (by key) or the node's own checks (null). */
  target(nodeId: string, gpuKey: string | null): Worst {
    const rules = this.byNode.get(nodeId)?.get(gpuKey ?? '');
    return rules ? worstOf(rules.values()) : HEALTHY;
  }

  /** Verdict of a node as a whole: the worst of its own findings and its GPUs'. */
  node(nodeId: string): Worst {
    let best = HEALTHY;
    for (const rules of this.byNode.get(nodeId)?.values() ?? []) best = worstOf(rules.values(), best);
    return best;
  }

  clear(): void {
    this.byNode.clear();
  }
}
