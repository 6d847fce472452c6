import { labelSafe } from './builtin-labels.js';

// Pure (no node: imports): the CLI and the dashboard both read `containers ls` runs with these.

/** One container as `ls` printed it on a host (one JSON line each), with that host. */
export interface ContainerRow {
  node: string;
  nodeId: string;
  id: string;
  name: string;
  image: string;
  state: string;
  status: string;
  /** Epoch ms; 0 when the host did not say. */
  created: number;
}

/** One piece of a run's output as the runs API and its stream give it. */
export interface OutputPiece {
  nodeId: string;
  stream: string;
  chunk: number;
  data: string;
}

/**
 * The selector that names one host by its hostname label: what container commands target, and
 * what the host checks against its own hostname.
 */
export function hostSelector(hostname: string): string {
  return `hostname=${labelSafe(hostname)}`;
}

/**
 * One stream of each host's output put back together in chunk order. A chunk seen twice (a
 * stream that replays history) or late counts once, in its place.
 */
export class StreamByHost {
  private readonly hosts = new Map<string, Map<number, string>>();

  constructor(readonly stream: 'stdout' | 'stderr' = 'stdout') {}

  /** Takes a piece; pieces of the other streams are ignored. */
  add(piece: OutputPiece): void {
    if (piece.stream !== this.stream) return;
    const parts = this.hosts.get(piece.nodeId) ?? new Map<number, string>();
    parts.set(piece.chunk, piece.data);
    this.hosts.set(piece.nodeId, parts);
  }

  /** The host's text so far ('' when it sent nothing). */
  text(nodeId: string): string {
    const parts = this.hosts.get(nodeId);
    if (!parts) return '';
    return [...parts.entries()]
      .sort((a, b) => a[0] - b[0])
      .map((p) => p[1])
      .join('');
  }
}

/**
 * The JSON lines `ls` printed on one host as rows; lines that are not a container (a garbled or
 * truncated chunk) are counted, not fatal.
 */
export function parseListOutput(node: string, nodeId: string, stdout: string): { rows: ContainerRow[]; bad: number } {
  const rows: ContainerRow[] = [];
  let bad = 0;
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const c = JSON.parse(line) as Record<string, unknown>;
      if (c === null || typeof c !== 'object' || typeof c.id !== 'string' || typeof c.name !== 'string') throw new Error('not a container');
      const text = (v: unknown) => (typeof v === 'string' ? v : '');
      rows.push({
        node,
        nodeId,
        id: c.id,
        name: c.name,
        image: text(c.image),
        state: text(c.state),
        status: text(c.status),
        created: typeof c.created === 'number' && Number.isFinite(c.created) ? c.created : 0,
      });
    } catch {
      bad++;
    }
  }
  return { rows, bad };
}
