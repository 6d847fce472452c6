import { matchesSelector, parseSelector, type Labels } from '@gpufleet/protocol';

/**
 * A label set that the selector matches, or null when none exists (`a=1,a!=1`) or the selector
 * does not parse. The server uses it to check a capability's chain without a particular host in
 * mind: verifyCapability insists the host matches every link, and since each child narrows its
 * parent, labels matching the leaf's selector match every link's.
 */
export function labelsSatisfying(selectorSource: string): Labels | null {
  let selector;
  try {
    selector = parseSelector(selectorSource);
  } catch {
    return null;
  }
  const labels: Record<string, string> = {};
  const keys = [...new Set(selector.requirements.map((r) => r.key))];
  for (const key of keys) {
    const reqs = selector.requirements.filter((r) => r.key === key);
    if (reqs.some((r) => r.op === 'notexists')) continue; // absent satisfies neq, notin and notexists alike
    const needsValue = reqs.some((r) => r.op === 'eq' || r.op === 'in' || r.op === 'exists');
    if (!needsValue) continue;
    // Candidates: the values the selector names, then made-up ones that no neq/notin can exclude forever.
    const named = reqs.flatMap((r) => (r.op === 'eq' ? [r.value] : r.op === 'in' ? r.values : []));
    const candidates = [...named, ...Array.from({ length: 8 }, (_, i) => `x${i}`)];
    const fits = candidates.find((v) => matchesSelector({ source: '', requirements: reqs }, { [key]: v }));
    if (fits === undefined) return null;
    labels[key] = fits;
  }
  return matchesSelector(selector, labels) ? labels : null;
}
