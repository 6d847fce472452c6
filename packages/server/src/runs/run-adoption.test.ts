import { afterEach, describe, expect, it } from 'vitest';
import { InProcessBroker, InProcessBus } from '../bus/in-process-bus.js';
import { RunFollowers } from '../replicas/run-followers.js';
import { nodeId, runKit, storedElsewhere, storedStates, type RunKit } from './__tests__/run-kit.js';

/**
 * With replicas, the replica that takes a run follows it; when it dies mid-run, a survivor's
 * periodic look finds the run unfollowed, takes it up, applies what hosts reported to the dead
 * one (stored by the replicas holding their sessions), and finishes it.
 */
let kit: RunKit | undefined;
const buses: InProcessBus[] = [];
afterEach(async () => {
  await kit?.close();
  kit = undefined;
  for (const b of buses.splice(0)) await b.close();
});

async function followers(broker: InProcessBroker, instance: string, alive: Set<string>): Promise<RunFollowers> {
  const bus = new InProcessBus({ broker });
  buses.push(bus);
  const f = new RunFollowers({ bus, replica: `cp-${instance}`, instance, directory: { isAlive: (_n, i) => alive.has(i) } });
  await f.start();
  return f;
}

const result = (runId: string, exitCode = 0) => ({
  runId,
  exitCode,
  signal: null,
  timedOut: false,
  canceled: false,
  durationMs: 5,
  outputBytes: 0,
  truncated: false,
});

async function until(what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('runs whose replica died', () => {
  it('are taken up by a survivor only once the follower is gone, with the reports it never applied', async () => {
    const broker = new InProcessBroker();
    const alive = new Set(['a', 'b']);
    kit = await runKit(2, { service: { claims: await followers(broker, 'a', alive), adoptEveryMs: 1000 } });
    const survivor = kit.peer({ claims: await followers(broker, 'b', alive), adoptEveryMs: 1000 });
    await survivor.load();
    const { id } = await kit.service.submit({ command: kit.command() }, 'alice');
    // Host 0 finished; its report was stored by the replica holding its session, never applied here.
    await storedElsewhere(kit, nodeId(0), 'run-result', result(id));
    kit.clock.advance(2000);
    survivor.tick();
    await new Promise((r) => setTimeout(r, 50));
    expect(survivor.runningOn(nodeId(1))).toBe(0); // the follower is alive: not taken
    // The follower stops answering (killed, or paused past its directory entry).
    alive.delete('a');
    kit.clock.advance(2000);
    survivor.tick();
    await until('the survivor follows the run', () => survivor.runningOn(nodeId(1)) === 1);
    // The paused one comes back: it finds the run followed by another and lets it go.
    alive.add('a');
    kit.service.tick();
    await until('the old follower let the run go', () => kit!.service.runningOn(nodeId(1)) === 0);
    expect(kit.warnings).toContain('another replica follows this run now; letting it go');
    await until(
      'host 0 succeeded from its stored report',
      async () => (await survivor.get(id)).targets?.find((t) => t.nodeId === nodeId(0))?.state === 'succeeded',
    );
    // Host 1 answers the survivor; the run finishes there.
    survivor.onAgentEvent({
      nodeId: nodeId(1),
      seq: 1,
      id: 'late',
      ts: kit.clock.now(),
      kind: 'run-result',
      gpuUuid: null,
      pciBusId: null,
      message: '',
      data: result(id, 3),
      receivedAt: kit.clock.now(),
    });
    await until('the run finished', async () => (await survivor.get(id)).state !== 'running');
    expect((await survivor.get(id)).state).toBe('partial');
    await survivor.flush();
    expect(await storedStates(kit, id)).toEqual({ 'node-000': 'succeeded', 'node-001': 'failed' });
  });
});
