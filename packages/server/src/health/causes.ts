import type { CompiledRule } from './health-policy.js';
import type { MetricEvidence } from './metric-watch.js';

/** A duration for people: 90s, 5m, 1h30m, 2d. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  return `${Math.round(h / 24)}d`;
}

const round = (v: number) => Math.round(v * 10) / 10;

/**
 * Why a metric rule fired, or (recovered) why it ended: "temperature_c above 83 for 5m
 * (from 84, peak 91, now 88)" / "temperature_c at or below 80 for 5m (now 72)".
 */
export function metricCause(rule: CompiledRule, e: MetricEvidence, recovered = false): string {
  const held = formatMs(e.heldForMs);
  if (recovered) {
    const rec = rule.recover.type === 'metric' ? rule.recover : null;
    const bound = rule.above !== null ? `at or below ${rec?.below ?? rule.above}` : `at or above ${rec?.above ?? rule.below}`;
    return `${e.metric} ${bound} for ${held} (now ${round(e.last)})`;
  }
  const cond = rule.above !== null ? `above ${rule.above}` : `below ${rule.below}`;
  const peak = rule.above !== null ? 'peak' : 'lowest';
  return `${e.metric} ${cond} for ${held} (from ${round(e.first)}, ${peak} ${round(e.extreme)}, now ${round(e.last)})`;
}
