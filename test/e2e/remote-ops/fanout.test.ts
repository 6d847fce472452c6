import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimFleet, type SimFleet } from '@gpufleet/sim';
import { Cleanups } from '../support/cleanups.js';
import { FAST_BACKOFF } from '../support/e2e-host.js';
import { sleep, waitFor } from '../support/wait-for.js';
import { signed, startRootedServer, submitRun, targetOf, waitRunFinal, type RootedServer } from './support.js';

/**
 * Fan-out to 200 simulated hosts (the sim's real Agents over real WebSockets, each behind its
 * own TCP link proxy, real `sh -c` processes) against the real server, with mixed outcomes:
 * success, failure (exit 3), timeout, cancel, and a host whose link drops mid-run and comes back.
 */

const HOSTS = 200;
const cleanups = new Cleanups();
let s: RootedServer;
let fleet: SimFleet;
let names: string[];

beforeAll(async () => {
  s = await startRootedServer(cleanups);
  fleet = await startSimFleet({
    token: s.joinToken,
    count: HOSTS,
    seed: 'rops-fanout',
    gpuCount: 1,
    agentVersion: '0.1.0-e2e',
    startSpreadMs: 1000,
    linkProxy: true,
    agentOptions: { backoff: FAST_BACKOFF },
  });
  cleanups.add('fleet', () => fleet.stop());
  await fleet.started;
  names = fleet.agents.map((a) => a.hostname).sort();
  await waitFor(
    `${HOSTS} hosts connected`,
    async () => {
      const r = await s.t.api('GET', '/api/v1/nodes?limit=1000');
      return ((r.body?.items ?? []) as Array<{ connected: boolean }>).filter((x) => x.connected).length === HOSTS;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
}, 40_000);
afterAll(() => cleanups.run(), 30_000);

const among = (hosts: string[]) => `hostname in (${hosts.join(',')})`;

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

describe('e2e fan-out to 200 hosts', () => {
  it('records every outcome per host, counts add up, and a host that reconnects mid-run reports once', async () => {
    const okHosts = names.slice(0, 100);
    const failHosts = names.slice(100, 150);
    const slowHosts = names.slice(150, 175);
    const cancelHosts = names.slice(175, 200);
    const flaky = okHosts[0]!;

    // Success: two lines with a gap, during which `flaky` loses its link and gets it back. The gap is wide: with 200
    // hosts in one test process a host's 'started' report can take several seconds to be seen on a busy 2-core machine.
    const okRun = await submitRun(s.t, signed(s.root, { target: among(okHosts), command: { kind: 'shell', script: 'echo first; sleep 8; echo second' } }));
    const failRun = await submitRun(s.t, signed(s.root, { target: among(failHosts), command: { kind: 'shell', script: 'echo failing >&2; exit 3' } }));
    const slowRun = await submitRun(s.t, signed(s.root, { target: among(slowHosts), timeoutMs: 1000, command: { kind: 'shell', script: 'sleep 30' } }));
    const cancelRun = await submitRun(s.t, signed(s.root, { target: among(cancelHosts), command: { kind: 'shell', script: 'echo started; sleep 30' } }));

    // Cut `flaky`'s link once it started (its `first` line may or may not have gone out).
    await waitFor(`${flaky} running`, async () => targetOf((await s.t.api('GET', `/api/v1/runs/${okRun}`)).body, flaky).state === 'running', {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    const link = fleet.host(flaky).link!;
    link.cut();
    await waitFor(`${flaky} noticing its link is down`, () => fleet.host(flaky).agent.linkState !== 'live', { timeoutMs: 3000, intervalMs: 10 });
    await sleep(200);
    link.restore();
    await waitFor(`${flaky} live again`, () => fleet.host(flaky).agent.linkState === 'live', { timeoutMs: 5000, intervalMs: 20 });

    await waitFor(
      'every cancel target running',
      async () => ((await s.t.api('GET', `/api/v1/runs/${cancelRun}`)).body.targets as Array<{ state: string }>).every((x) => x.state === 'running'),
      { timeoutMs: 15_000 },
    );
    const canceled = await s.t.api('POST', `/api/v1/runs/${cancelRun}/cancel`);
    expect(canceled.status, canceled.text).toBe(200);

    const expectAll = async (runId: string, hosts: string[], state: string, exitCode: number | null | undefined, runState: string) => {
      const run = await waitRunFinal(s.t, runId, 20_000);
      expect(run.targets.map((x) => x.hostname).sort()).toEqual([...hosts].sort());
      const wrong = run.targets.filter((x) => x.state !== state || (exitCode !== undefined && x.exitCode !== exitCode));
      expect(wrong.map((x) => `${x.hostname}: ${x.state} ${x.exitCode} ${x.reason}`)).toEqual([]);
      expect(run.counts[state]).toBe(hosts.length);
      expect(sum(run.counts)).toBe(hosts.length);
      expect(run.state).toBe(runState);
      return run;
    };
    await expectAll(okRun, okHosts, 'succeeded', 0, 'succeeded');
    await expectAll(failRun, failHosts, 'failed', 3, 'failed');
    await expectAll(slowRun, slowHosts, 'timed_out', undefined, 'failed');
    await expectAll(cancelRun, cancelHosts, 'canceled', undefined, 'canceled');

    // The host whose link dropped reported its output exactly once, in order.
    const out = await s.t.api('GET', `/api/v1/runs/${okRun}/output?node=${flaky}`);
    expect(out.status, out.text).toBe(200);
    expect((out.body.items as Array<{ data: string }>).map((o) => o.data).join('')).toBe('first\nsecond\n');
    expect(link.stats.cuts).toBe(1);
    // A host with a stable link, for comparison, and the failing hosts' stderr.
    const other = await s.t.api('GET', `/api/v1/runs/${okRun}/output?node=${okHosts[1]}`);
    expect((other.body.items as Array<{ data: string }>).map((o) => o.data).join('')).toBe('first\nsecond\n');
    const failOut = await s.t.api('GET', `/api/v1/runs/${failRun}/output?node=${failHosts[0]}`);
    expect(failOut.body.items).toMatchObject([{ stream: 'stderr', data: 'failing\n' }]);
  }, 60_000);
});
