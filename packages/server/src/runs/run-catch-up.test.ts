import { afterEach, describe, expect, it } from 'vitest';
import { nodeId, runKit, storedElsewhere, type RunKit } from './__tests__/run-kit.js';

/**
 * With replicas, a host's reports may be stored (and acknowledged to the host) by the replica
 * holding its session, which then dies before passing them on to the replica following the run.
 * When the host's session is ready again anywhere, the following replica reads them back.
 */
let kit: RunKit | undefined;
afterEach(async () => {
  await kit?.close();
  kit = undefined;
});

async function settle(k: RunKit, runId: string, want: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const state = (await k.service.get(runId)).targets![0]!.state;
    if (state === want) return state;
    await new Promise((r) => setTimeout(r, 10));
  }
  return (await k.service.get(runId)).targets![0]!.state;
}

describe('run reports stored by a replica that died', () => {
  it('are applied when the host is ready again: the result counts once, output is not doubled', async () => {
    kit = await runKit(1);
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    const result = { runId: id, exitCode: 0, signal: null, timedOut: false, canceled: false, durationMs: 7, outputBytes: 3, truncated: false };
    await storedElsewhere(kit, nodeId(0), 'run-started', { runId: id, pid: 4242 });
    await storedElsewhere(kit, nodeId(0), 'run-output', { runId: id, stream: 'stdout', chunk: 0, data: 'ok\n' });
    await storedElsewhere(kit, nodeId(0), 'run-result', result);
    expect((await kit.service.get(id)).targets![0]!.state).toBe('sent');
    kit.service.onSessionReady(nodeId(0));
    expect(await settle(kit, id, 'succeeded')).toBe('succeeded');
    // The host replays the same items to its new replica: nothing changes.
    kit.report(nodeId(0), 'run-output', { runId: id, stream: 'stdout', chunk: 0, data: 'ok\n' });
    kit.result(nodeId(0), id, { exitCode: 3 });
    const view = await kit.service.get(id);
    expect(view.targets![0]).toMatchObject({ state: 'succeeded', exitCode: 0, outputBytes: 3 });
    expect(view.state).toBe('succeeded');
  });

  it('leaves alone reports of other runs and hosts, and a host with nothing stored', async () => {
    kit = await runKit(2);
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    await storedElsewhere(kit, nodeId(1), 'run-result', {
      runId: id,
      exitCode: 0,
      signal: null,
      timedOut: false,
      canceled: false,
      durationMs: 1,
      outputBytes: 0,
      truncated: false,
    });
    await storedElsewhere(kit, nodeId(0), 'run-result', {
      runId: 'run_other',
      exitCode: 0,
      signal: null,
      timedOut: false,
      canceled: false,
      durationMs: 1,
      outputBytes: 0,
      truncated: false,
    });
    kit.service.onSessionReady(nodeId(0));
    await new Promise((r) => setTimeout(r, 100));
    expect((await kit.service.get(id)).targets!.map((t) => t.state)).toEqual(['sent', 'sent']);
  });
});
