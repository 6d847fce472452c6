import { describe, expect, it } from 'vitest';
import type { RunTargetView } from '@gpufleet/protocol';
import { appendLog, cliHints, EMPTY_LOG, LOG_TAIL_LINES, logTailSpec, targetProblems, type LogState } from './containers.js';

const texts = (s: LogState) => s.lines.map((l) => `${l.stream}:${l.text}`);

describe('appendLog', () => {
  it('splits pieces into lines and keeps the stream of each', () => {
    let s = appendLog(EMPTY_LOG, 'stdout', 'one\ntwo\n');
    s = appendLog(s, 'stderr', 'warn\n');
    expect(texts(s)).toEqual(['stdout:one', 'stdout:two', 'stderr:warn']);
    expect(new Set(s.lines.map((l) => l.id)).size).toBe(3);
  });

  it('continues a line cut between two pieces of the same stream', () => {
    let s = appendLog(EMPTY_LOG, 'stdout', 'tick 1\ntic');
    expect(s.open).toBe('stdout');
    s = appendLog(s, 'stdout', 'k 2\ntick 3\n');
    expect(texts(s)).toEqual(['stdout:tick 1', 'stdout:tick 2', 'stdout:tick 3']);
    expect(s.open).toBeNull();
  });

  it('does not glue a line of one stream onto a cut line of the other', () => {
    let s = appendLog(EMPTY_LOG, 'stdout', 'partial');
    s = appendLog(s, 'stderr', 'err\n');
    s = appendLog(s, 'stdout', ' rest\n');
    expect(texts(s)).toEqual(['stdout:partial', 'stderr:err', 'stdout: rest']);
  });

  it('keeps only the last `limit` lines and counts the ones let go', () => {
    let s = EMPTY_LOG;
    for (let i = 1; i <= 25; i++) s = appendLog(s, 'stdout', `line ${i}\n`, 10);
    expect(s.lines).toHaveLength(10);
    expect(s.lines[0]!.text).toBe('line 16');
    expect(s.lines[9]!.text).toBe('line 25');
    expect(s.dropped).toBe(15);
    // One big piece past the limit is cut the same way.
    const big = appendLog(EMPTY_LOG, 'stdout', `${Array.from({ length: 7 }, (_, i) => `b${i}`).join('\n')}\n`, 3);
    expect(texts(big)).toEqual(['stdout:b4', 'stdout:b5', 'stdout:b6']);
    expect(big.dropped).toBe(4);
  });

  it('shows the output cap marker as a line of its own and ignores empty pieces', () => {
    let s = appendLog(EMPTY_LOG, 'stdout', 'half a li');
    s = appendLog(s, 'truncated', 'output cap of 1048576 bytes reached');
    s = appendLog(s, 'stdout', '');
    expect(texts(s)).toEqual(['stdout:half a li', 'truncated:[output cap of 1048576 bytes reached]']);
    expect(appendLog(s, 'stdout', '')).toBe(s);
  });

  it('reads CRLF line ends as plain newlines', () => {
    expect(texts(appendLog(EMPTY_LOG, 'stdout', 'a\r\nb\r\n'))).toEqual(['stdout:a', 'stdout:b']);
  });
});

function target(over: Partial<RunTargetView>): RunTargetView {
  return {
    nodeId: 'n1',
    hostname: 'gpu-node-01',
    batch: 0,
    state: 'succeeded',
    exitCode: 0,
    signal: null,
    reason: null,
    sentAt: null,
    startedAt: null,
    finishedAt: null,
    durationMs: 10,
    outputBytes: 0,
    truncated: false,
    ...over,
  };
}

describe('targetProblems', () => {
  it('is empty when every host succeeded', () => {
    expect(targetProblems([target({}), target({ nodeId: 'n2' })], () => '')).toEqual([]);
  });

  it("names a refusal with the host's reason and what the operator can do", () => {
    const [p] = targetProblems([target({ state: 'refused', exitCode: null, reason: 'ability_not_granted: container/logs is not granted' })], () => '');
    expect(p).toMatchObject({ hostname: 'gpu-node-01', state: 'refused', message: 'refused: ability_not_granted: container/logs is not granted' });
    expect(p!.hint).toMatch(/capability does not grant/);
  });

  it("gives a failure the host's last error line, and a hint when no engine runs there", () => {
    const stderr = 'gpufleet-agent: something\nerror: no container engine found on this host (looked for /run/docker.sock)\n';
    const [p] = targetProblems([target({ state: 'failed', exitCode: 1 })], (id) => (id === 'n1' ? stderr : ''));
    expect(p!.message).toBe('failed (exit 1): no container engine found on this host (looked for /run/docker.sock)');
    expect(p!.hint).toMatch(/Docker or Podman/);
    const [other] = targetProblems([target({ state: 'failed', exitCode: 125, reason: null })], () => '');
    expect(other!.message).toBe('failed (exit 125)');
    expect(other!.hint).toBeNull();
  });

  it('counts cancel and time limit as done for a tail, and as problems otherwise', () => {
    const ended = [target({ state: 'canceled', reason: 'canceled by token:ops' }), target({ nodeId: 'n2', state: 'timed_out' })];
    expect(targetProblems(ended, () => '', { endedIsOk: true })).toEqual([]);
    expect(targetProblems(ended, () => '').map((p) => p.message)).toEqual(['canceled (canceled by token:ops)', 'timed out before the host finished']);
    expect(targetProblems([target({ state: 'unreachable', reason: null })], () => '')[0]!.message).toBe('unreachable: the host did not answer');
  });
});

describe('commands', () => {
  it('a live tail follows the last lines', () => {
    expect(logTailSpec('vllm')).toEqual({ kind: 'container', op: 'logs', container: 'vllm', follow: true, tail: LOG_TAIL_LINES });
  });

  it('the CLI hints name the host the way the CLI accepts it', () => {
    expect(cliHints('gpu-node-07')).toEqual([
      'gpufleet containers ls -l hostname=gpu-node-07',
      'gpufleet containers logs gpu-node-07/NAME -f',
      'gpufleet containers restart gpu-node-07/NAME',
    ]);
    expect(cliHints('odd host')[1]).toBe('gpufleet containers logs odd-host/NAME -f');
  });
});
