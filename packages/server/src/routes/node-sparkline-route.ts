import { z } from 'zod';
import {
  FleetError,
  NodeSparklines,
  parseDurationMs,
  SPARKLINE_DEFAULT_POINTS,
  SPARKLINE_MAX_IDS,
  SPARKLINE_MAX_POINTS,
  type NodeSparkline,
} from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import { sparklineWindow } from '../metrics/sparklines.js';

const SparklineQuery = z.strictObject({
  ids: z
    .string()
    .min(1, 'ids must list at least one node id')
    .max(SPARKLINE_MAX_IDS * 130),
  since: z.string().max(32).optional(),
  points: z.coerce
    .number({ error: 'points must be a whole number' })
    .int('points must be a whole number')
    .min(2, 'points must be at least 2')
    .max(SPARKLINE_MAX_POINTS, `points must be at most ${SPARKLINE_MAX_POINTS}`)
    .optional(),
  access_token: z.string().optional(),
});

/** A node id with or without its `did:key:` prefix (the page sends them bare to keep the URL short). */
const NODE_ID = /^(?:did:key:)?z[1-9A-HJ-NP-Za-km-z]{10,120}$/;
const MIN_SINCE_MS = 60_000;

/** The `ids` of a sparkline request as full node ids, de-duplicated; throws naming the bad one. */
export function parseSparklineIds(text: string): string[] {
  const words = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (words.length === 0) throw new FleetError('invalid_argument', 'ids must list at least one node id');
  const bad = words.find((id) => !NODE_ID.test(id));
  if (bad !== undefined) throw new FleetError('invalid_argument', `ids: '${bad.slice(0, 80)}' is not a node id (did:key:z..., with or without did:key:)`);
  const ids = [...new Set(words.map((id) => (id.startsWith('did:key:') ? id : `did:key:${id}`)))];
  if (ids.length > SPARKLINE_MAX_IDS)
    throw new FleetError('invalid_argument', `ids lists ${ids.length} nodes; at most ${SPARKLINE_MAX_IDS} per request (one page of the table)`);
  return ids;
}

/** `since` as a duration from 1m up to what the metric store keeps. */
function parseSparklineSince(text: string, retentionMs: number): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch {
    throw new FleetError('invalid_argument', `since '${text}' is not a duration such as 15m`);
  }
  if (ms < MIN_SINCE_MS || ms > retentionMs) {
    throw new FleetError(
      'invalid_argument',
      `since '${text}' must be from 1m to ${Math.floor(retentionMs / 60_000)}m (the server keeps that much history in memory)`,
    );
  }
  return ms;
}

/*
 * Sparklines for the rows on screen. A route of its own rather than `include=spark` on the
 * list: the dashboard patches list pages in place from the SSE stream (web lib/live.tsx), which
 * would drop history carried inside node views, and the list is also fetched for things that
 * need no history (filters, sorting, the CLI). The page asks once per page of rows on screen
 * (<= 200 ids; bare ids keep the URL near 10 KB, under Node's 16 KB header limit) and every
 * 30 s. The work is a map lookup per id and one pass over each node's last 15 minutes of ring:
 * no fleet scan, whatever the fleet's size. With several replicas, the nodes held elsewhere are
 * computed by their holder (one bus question per holder, replicas/metric-reads.ts). Not under
 * /nodes/: a static /nodes/sparklines would shadow a host named "sparklines" in /nodes/:ref.
 */
export function registerNodeSparklineRoute(app: App, ctx: ServerContext): void {
  const summary = `Mean GPU utilization and hottest GPU temperature of up to ${SPARKLINE_MAX_IDS} nodes, averaged into buckets`;
  app.get(
    '/api/v1/sparklines',
    { config: { auth: 'viewer' }, schema: { tags: ['metrics'], summary, querystring: SparklineQuery, response: { 200: NodeSparklines } } },
    async (req) => {
      const ids = parseSparklineIds(req.query.ids);
      const sinceMs = parseSparklineSince(req.query.since ?? '15m', ctx.metrics.retentionMs);
      const window = sparklineWindow(ctx.clock.now(), sinceMs, req.query.points ?? SPARKLINE_DEFAULT_POINTS);
      const known = ids.filter((id) => ctx.registry.get(id));
      const missing = ids.filter((id) => !ctx.registry.get(id));
      const items: NodeSparkline[] = await ctx.metricReads.sparklines(known, window);
      return { ...window, items, missing };
    },
  );
}
