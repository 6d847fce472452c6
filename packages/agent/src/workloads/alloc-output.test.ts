import { describe, expect, it } from 'vitest';
import type { AllocOutputData } from '@gpufleet/protocol';
import { AllocOutput } from './alloc-output.js';
import { describePolicy, restartAllowed, withRestart } from './restart-budget.js';

function rig(reserved = { stdout: 0, stderr: 0 }, limits = {}) {
  let now = 0;
  const sent: AllocOutputData[] = [];
  const reservations: [string, number][] = [];
  const out = new AllocOutput({
    allocId: 'alloc-test-1',
    emit: (d) => sent.push(d),
    reserved,
    reserve: (stream, upTo) => reservations.push([stream, upTo]),
    limits: { flushMs: 0, ...limits },
    monotonic: () => now,
  });
  return { out, sent, reservations, advance: (ms: number) => (now += ms) };
}

describe('AllocOutput', () => {
  it('sends chunks of at most 16 KiB, numbered per stream from the reservation, reserving ahead before use', () => {
    const { out, sent, reservations } = rig({ stdout: 2000, stderr: 0 });
    out.write('stdout', 'x'.repeat(40 * 1024));
    out.write('stderr', 'e\n');
    out.close();
    expect(sent.map((s) => [s.stream, s.chunk, s.data.length])).toEqual([
      ['stdout', 2000, 16384],
      ['stdout', 2001, 16384],
      ['stdout', 2002, 8192],
      ['stderr', 0, 2],
    ]);
    expect(sent.every((s) => s.allocId === 'alloc-test-1')).toBe(true);
    // 2000 was the reserved mark: numbers from there on are reserved (stored) before they are sent.
    expect(reservations).toEqual([
      ['stdout', 3000],
      ['stderr', 1000],
    ]);
  });

  it('drops what is over the rate and says how much once output flows again', () => {
    const { out, sent, advance } = rig(undefined, { bytesPerSecond: 1000, burstBytes: 4000 });
    out.write('stdout', 'a'.repeat(3000));
    out.write('stdout', 'b'.repeat(3000)); // over: 1000 tokens left
    advance(500); // 500 more tokens: 1500
    out.write('stdout', 'c'.repeat(1000));
    out.close();
    const text = (stream: string) =>
      sent
        .filter((s) => s.stream === stream)
        .map((s) => s.data)
        .join('');
    expect(text('stdout')).toBe(`${'a'.repeat(3000)}${'c'.repeat(1000)}`);
    expect(text('stderr')).toMatch(/^\[gpufleet-agent: 3000 bytes of this allocation's output were dropped: it wrote more than 1 KiB\/s\]\n$/);
  });

  it('reports drops at close too, and ignores writes after it', () => {
    const { out, sent } = rig(undefined, { bytesPerSecond: 10, burstBytes: 10 });
    out.write('stdout', 'x'.repeat(100));
    expect(out.droppedBytes).toBe(100);
    out.close();
    out.write('stdout', 'late');
    expect(sent.map((s) => s.stream)).toEqual(['stderr']);
    expect(sent[0]!.data).toContain('100 bytes');
  });
});

describe('restart budget', () => {
  const policy = { attempts: 2, within: 10_000, delay: 100 };
  it('allows `attempts` restarts within the window, and more once old ones leave it', () => {
    let times: number[] = [];
    expect(restartAllowed(policy, times, 0)).toBe(true);
    times = withRestart(policy, times, 0);
    times = withRestart(policy, times, 1000);
    expect(restartAllowed(policy, times, 5000)).toBe(false);
    expect(restartAllowed(policy, times, 10_001)).toBe(true);
    expect(withRestart(policy, times, 10_500)).toEqual([1000, 10_500]);
  });

  it('a window of 0 counts every restart ever; 0 attempts never restarts', () => {
    const ever = { attempts: 1, within: 0, delay: 0 };
    expect(restartAllowed(ever, withRestart(ever, [], 0), 1e12)).toBe(false);
    expect(restartAllowed({ attempts: 0, within: 60_000, delay: 0 }, [], 0)).toBe(false);
    expect(describePolicy(policy)).toBe('2 restarts within 10s');
    expect(describePolicy(ever)).toBe('1 restart in all');
  });
});
