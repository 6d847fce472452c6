import { describe, expect, it } from 'vitest';
import type { RunOutputView, RunTargetState, SignedCommand } from '@gpufleet/protocol';
import { AgentPlayPart, batchSizeOf, type PlayRuns } from './agent-play-part.js';

/** A fan-out whose runs end as `outcome` says after `chunks` of stdout, recording the order of submits. */
function fakeRuns(outcome: Record<string, RunTargetState>, chunks: Record<string, string[]> = {}) {
  const submitted: string[] = [];
  const canceled: string[] = [];
  const runs = new Map<string, { node: string; polls: number }>();
  const api: PlayRuns = {
    submit: async (_input, _actor, node) => {
      submitted.push(node!);
      if (outcome[node!] === undefined) throw new Error(`target matches not node ${node}`);
      runs.set(`run-${node}`, { node: node!, polls: 0 });
      return { id: `run-${node}` } as never;
    },
    get: async (id) => {
      const r = runs.get(id)!;
      r.polls++;
      const state = canceled.includes(id) ? 'canceled' : r.polls >= 2 ? outcome[r.node]! : 'running';
      return {
        targets: [{ nodeId: r.node, state, reason: state === 'refused' ? 'capability does not cover exec/run' : null, exitCode: 2, signal: null }],
      } as never;
    },
    output: async ({ runId, after }) => {
      const node = runs.get(runId)!.node;
      const items: RunOutputView[] = (chunks[node] ?? []).map((data, i) => ({ id: i + 1, nodeId: node, stream: 'stdout', chunk: i, data, at: '' }));
      return { items: items.filter((x) => x.id > (after ?? 0)), next: null };
    },
    cancel: async (id) => {
      canceled.push(id);
      return {} as never;
    },
  };
  return { api, submitted, canceled };
}

const host = (n: string) => ({ nodeId: n, hostname: n, command: {} as SignedCommand });

function part(runs: PlayRuns, hosts: string[], batchSize: number | null, maxFailPercentage: number | null) {
  const lines: string[] = [];
  const ends: string[] = [];
  const notes: string[] = [];
  const p = new AgentPlayPart({
    runs,
    actor: 'token:ops',
    hosts: hosts.map(host),
    batchSize,
    maxFailPercentage,
    onLine: (h, stream, line) => lines.push(`${h}/${stream}: ${line}`),
    onHostEnd: (h, state, detail) => ends.push(`${h}: ${state}${detail ? ` (${detail})` : ''}`),
    note: (m) => notes.push(m),
    pollMs: 1,
  });
  return { p, lines, ends, notes };
}

describe('AgentPlayPart', () => {
  it('reads each host output as whole lines, even when a line spans chunks', async () => {
    const f = fakeRuns({ a: 'succeeded' }, { a: ['{"x":', '1}\n{"y"', ':2}\nlast without newline'] });
    const { p, lines, ends } = part(f.api, ['a'], null, null);
    expect(await p.run()).toEqual({ failed: [], notStarted: [] });
    expect(lines).toEqual(['a/stdout: {"x":1}', 'a/stdout: {"y":2}', 'a/stdout: last without newline']);
    expect(ends).toEqual(['a: succeeded']);
  });

  it('runs in batches of serial; a batch over max_fail_percentage stops the rest, which are named as not started', async () => {
    const f = fakeRuns({ a: 'succeeded', b: 'succeeded', c: 'failed', d: 'refused', e: 'succeeded', g: 'succeeded' });
    const { p, ends, notes } = part(f.api, ['a', 'b', 'c', 'd', 'e', 'g'], 2, 40);
    expect(await p.run()).toEqual({ failed: ['c', 'd'], notStarted: ['e', 'g'] });
    expect(f.submitted).toEqual(['a', 'b', 'c', 'd']);
    expect(ends).toContain('c: failed (exit code 2)');
    expect(ends).toContain('d: refused (capability does not cover exec/run)');
    expect(notes[0]).toMatch(/2 of 2 failed in this batch, over max_fail_percentage 40: 2 host\(s\) not started/);
  });

  it('without max_fail_percentage every batch runs; a submit the server refuses fails that host only', async () => {
    const f = fakeRuns({ a: 'failed', c: 'succeeded' });
    const { p, ends } = part(f.api, ['a', 'b', 'c'], 1, null);
    expect(await p.run()).toEqual({ failed: ['a', 'b'], notStarted: [] });
    expect(ends).toContain('b: refused (not sent: target matches not node b)');
  });

  it('stop cancels the runs going on and starts no further batch', async () => {
    const f = fakeRuns({ a: 'succeeded', b: 'succeeded' });
    const { p } = part(f.api, ['a', 'b'], 1, null);
    const running = p.run();
    p.stop();
    const result = await running;
    expect(f.canceled).toEqual(['run-a']);
    expect(result).toEqual({ failed: ['a'], notStarted: ['b'] });
  });

  it('batchSizeOf reads serial as a count or a share, at least one host', () => {
    expect(batchSizeOf(null, 10)).toBeNull();
    expect(batchSizeOf('3', 10)).toBe(3);
    expect(batchSizeOf('25%', 10)).toBe(2);
    expect(batchSizeOf('1%', 10)).toBe(1);
  });
});
