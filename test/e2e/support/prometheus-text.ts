/** One sample line of the Prometheus text format. */
export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of `metric` in a /metrics answer (comments and other families skipped). */
export function promSamples(text: string, metric: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of `metric` by its `label` value, e.g. refused frames by reason. */
export function promSumBy(text: string, metric: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of promSamples(text, metric)) {
    const key = s.labels[label] ?? '';
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}
