import type { NodeSparkline } from '@gpufleet/protocol';
import type { MetricStore } from './metric-store.js';

/** The buckets every sparkline of one request shares. */
export interface SparklineWindow {
  /** Epoch ms where bucket 0 starts. */
  start: number;
  bucketMs: number;
  points: number;
}

/**
 * `points` buckets covering at least the last `sinceMs` up to `now`. Bucket edges sit on
 * multiples of bucketMs, not on `now`, so a refresh 30 s later moves the line by whole buckets
 * instead of re-averaging every point (a sparkline that wobbles on each refresh reads as noise).
 */
export function sparklineWindow(now: number, sinceMs: number, points: number): SparklineWindow {
  const bucketMs = Math.max(1, Math.ceil(sinceMs / points));
  const end = (Math.floor(now / bucketMs) + 1) * bucketMs;
  return { start: end - points * bucketMs, bucketMs, points };
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

/**
 * A node's mean GPU utilization and hottest GPU temperature per sample, averaged into the
 * window's buckets. The GPU series of a node share one timeline (one ring per node), so sample
 * i of every GPU is the same instant. A bucket without any reading is null (a gap, not a zero).
 */
export function nodeSparkline(store: MetricStore, nodeId: string, w: SparklineWindow): NodeSparkline {
  const utilSum = new Float64Array(w.points);
  const utilN = new Uint32Array(w.points);
  const tempSum = new Float64Array(w.points);
  const tempN = new Uint32Array(w.points);
  const { series } = store.query(nodeId, { since: w.start, names: ['gpu_util_pct', 'gpu_temp_c'] });
  const utils = series.filter((s) => s.name === 'gpu_util_pct');
  const temps = series.filter((s) => s.name === 'gpu_temp_c');
  const times = (utils[0] ?? temps[0])?.points ?? [];
  for (let i = 0; i < times.length; i++) {
    const b = Math.floor((times[i]![0] - w.start) / w.bucketMs);
    if (b < 0 || b >= w.points) continue;
    let sum = 0;
    let n = 0;
    for (const s of utils) {
      const v = s.points[i]?.[1];
      if (typeof v === 'number') {
        sum += v;
        n++;
      }
    }
    if (n > 0) {
      utilSum[b]! += sum / n;
      utilN[b]!++;
    }
    let hottest = -Infinity;
    for (const s of temps) {
      const v = s.points[i]?.[1];
      if (typeof v === 'number' && v > hottest) hottest = v;
    }
    if (hottest > -Infinity) {
      tempSum[b]! += hottest;
      tempN[b]!++;
    }
  }
  const util: Array<number | null> = [];
  const temp: Array<number | null> = [];
  for (let b = 0; b < w.points; b++) {
    util.push(utilN[b] ? round1(utilSum[b]! / utilN[b]!) : null);
    temp.push(tempN[b] ? round1(tempSum[b]! / tempN[b]!) : null);
  }
  return { id: nodeId, util, temp };
}
