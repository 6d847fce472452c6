import { afterEach, describe, expect, it } from 'vitest';
import { SXID_CATALOG } from '@gpufleet/protocol';
import type { HubEvent } from '../events/event-hub.js';
import { NodeRegistry } from '../services/node-registry.js';
import { NO_ALLOCATIONS, NodeViews } from '../services/node-views.js';
import { createHealth } from './index.js';
import { counter, healthKit, N1, N2, pci, T0, uuid, xid, type HealthKit } from './__tests__/health-kit.js';
import { NO_OTHER_REPLICAS } from '../replicas/session-owners.js';

const MIN = 60_000;
let kit: HealthKit;
afterEach(() => kit?.close());

const healthEvents = (k: HealthKit) => k.hubEvents.filter((e): e is Extract<HubEvent, { type: 'health' }> => e.type === 'health');
const gpuView = (k: HealthKit, i: number, nodeId = N1) => k.views.view(k.registry.get(nodeId)!).gpus[i]!;
const nodeView = (k: HealthKit, nodeId = N1) => k.views.view(k.registry.get(nodeId)!);

describe('health engine: events with the default policy', () => {
  it('XID 79 makes one GPU UNHEALTHY with its evidence, the node and its other GPUs stay usable', async () => {
    kit = await healthKit();
    kit.registry.seen(N1);
    await kit.metrics([{}, {}, {}, {}]);
    const ev = await kit.event(xid(79, 2));
    const g = gpuView(kit, 2);
    expect(g.state).toBe('UNHEALTHY');
    expect(g.health).toMatchObject({ verdict: 'unhealthy', rule: 'xid-gpu-reset-required' });
    expect(g.health.cause).toMatch(/^XID 79 \(GPU has fallen off the bus; NVIDIA: RESTART_BM\)$/);
    expect(gpuView(kit, 0).health.verdict).toBe('healthy');
    expect(gpuView(kit, 0).state).toBe('READY');
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('READY');
    expect(kit.registry.states.acceptsWork(N1, uuid(0))).toBe(true);
    expect(kit.registry.states.acceptsWork(N1, uuid(2))).toBe(false);
    const node = nodeView(kit);
    expect(node.health).toMatchObject({ verdict: 'unhealthy', rule: 'xid-gpu-reset-required' });
    expect(node.health.findings).toHaveLength(1);
    expect(node.health.findings[0]).toMatchObject({
      gpu: uuid(2),
      verdict: 'unhealthy',
      evidence: { code: 79, line: ev.message, event: { seq: ev.seq, id: ev.id } },
    });
    // Stored: the finding and the timeline (verdict change, then the GPU's transition).
    expect(await kit.store.listFindings()).toHaveLength(1);
    const timeline = (await kit.store.listHealthEvents({ nodeId: N1 })).reverse().map((e) => `${e.type}:${e.from}->${e.to}:${e.actor}`);
    expect(timeline).toEqual(['verdict:healthy->unhealthy:health-engine', 'transition:READY->UNHEALTHY:health:xid-gpu-reset-required']);
    // Announced for the GPU and for the node.
    expect(healthEvents(kit).map((e) => `${e.gpuKey ?? 'node'}:${e.previous}->${e.verdict}`)).toEqual([
      `${uuid(2)}:healthy->unhealthy`,
      'node:healthy->unhealthy',
    ]);
    expect(kit.alerts).toEqual([
      expect.objectContaining({ state: 'firing', nodeId: N1, gpuKey: uuid(2), rule: 'xid-gpu-reset-required', verdict: 'unhealthy' }),
    ]);
  });

  it('finds the GPU by PCI bus id in any spelling; an unknown GPU keeps its own key; no GPU lands on the node', async () => {
    kit = await healthKit();
    await kit.event(xid(48, 1, { gpuUuid: null, pciBusId: '00000000:18:00.0' }));
    expect(gpuView(kit, 1).health.verdict).toBe('unhealthy');
    await kit.event(xid(95, 0, { gpuUuid: 'GPU-gone', pciBusId: null }));
    expect(kit.engine.findings(N1).map((f) => f.gpu)).toEqual([uuid(1), 'GPU-gone']);
    await kit.event(xid(119, 0, { gpuUuid: null, pciBusId: null }));
    expect(kit.engine.findings(N1).map((f) => f.gpu)).toEqual([uuid(1), 'GPU-gone', null]);
    expect(nodeView(kit).health.verdict).toBe('unhealthy');
  });

  it('records a single application fault without changing any verdict', async () => {
    kit = await healthKit();
    await kit.event(xid(13, 0));
    expect(gpuView(kit, 0).health.verdict).not.toBe('degraded');
    expect(await kit.store.listFindings()).toEqual([]);
    const [m] = await kit.store.listHealthEvents({ type: 'match' });
    expect(m).toMatchObject({ rule: 'xid-application-fault', to: 'healthy', gpuKey: uuid(0) });
    expect(m!.reason).toMatch(/^XID 13 \(Graphics Engine Exception; NVIDIA: RESTART_APP\): Application fault/);
    expect(healthEvents(kit)).toEqual([]);
  });

  it('counts repeats per GPU within the window: 3x XID 13 in 10 minutes -> degraded', async () => {
    kit = await healthKit();
    await kit.event(xid(13, 0, { ts: T0 }));
    await kit.event(xid(13, 1, { ts: T0 + MIN })); // another GPU: its own count
    await kit.event(xid(13, 0, { ts: T0 + 4 * MIN }));
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('healthy');
    await kit.event(xid(13, 0, { ts: T0 + 9 * MIN }));
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('degraded');
    expect(kit.engine.verdictOf(N1, uuid(1))).toBe('healthy');
    const f = kit.engine.findings(N1)[0]!;
    expect(f).toMatchObject({ rule: 'xid-app-fault-repeated', verdict: 'degraded' });
    expect(f.cause).toMatch(/^3 matches within 10m: XID 13/);
    expect((f.evidence as { events: unknown[] }).events).toHaveLength(3);
    // Degraded with no cordon-gpu action: the GPU stays READY.
    expect(gpuView(kit, 0).state).toBe('READY');
  });

  it('counts an outbox item delivered twice once', async () => {
    kit = await healthKit();
    const first = await kit.event(xid(13, 0));
    kit.engine.onAgentEvent(first);
    kit.engine.onAgentEvent(first);
    await kit.engine.flush();
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('healthy');
    await kit.event(xid(13, 0));
    await kit.event(xid(13, 0));
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('degraded');
  });

  it('does not count matches spread wider than the window', async () => {
    kit = await healthKit();
    for (const t of [0, 6, 12, 18]) await kit.event(xid(13, 0, { ts: T0 + t * MIN }));
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('healthy');
  });

  it('recovers after the quiet period, sticks until then, and a new match restarts it', async () => {
    kit = await healthKit();
    const at = async (minute: number) => {
      kit.clock.t = T0 + minute * MIN;
      await kit.event(xid(13, 0));
    };
    const tickAt = async (minute: number) => {
      kit.clock.t = T0 + minute * MIN;
      kit.engine.tick();
      await kit.engine.flush();
      return kit.engine.verdictOf(N1, uuid(0));
    };
    for (const m of [0, 1, 2]) await at(m);
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('degraded');
    // Three in the window again (1, 2, 10): a new match, so the 30 quiet minutes count from 10.
    await at(10);
    expect(await tickAt(31)).toBe('degraded');
    expect(await tickAt(39)).toBe('degraded');
    expect(await tickAt(40)).toBe('healthy');
    const [last] = await kit.store.listHealthEvents({ type: 'verdict' });
    expect(last).toMatchObject({ from: 'degraded', to: 'healthy', reason: 'recovered: no new match for 30m' });
    expect(
      healthEvents(kit)
        .filter((e) => e.gpuKey === uuid(0))
        .at(-1),
    ).toMatchObject({ previous: 'degraded', verdict: 'healthy' });
    expect(healthEvents(kit).at(-1)).toMatchObject({ gpuKey: null, previous: 'degraded', verdict: 'healthy' });
  });

  it('keeps never-recovering verdicts whatever the time, until an operator clears them', async () => {
    kit = await healthKit();
    await kit.event(xid(79, 0));
    kit.clock.advance(30 * 86_400_000);
    kit.engine.tick();
    await kit.engine.flush();
    expect(gpuView(kit, 0)).toMatchObject({ state: 'UNHEALTHY', health: { verdict: 'unhealthy' } });
    expect(await kit.engine.clear(N1, uuid(0), 'token:alice(t1)', 'GPU replaced')).toEqual({ cleared: 1 });
    expect(gpuView(kit, 0).state).toBe('READY');
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('healthy');
    const recs = (await kit.store.listHealthEvents({ nodeId: N1 })).slice(0, 2).map((e) => `${e.type}:${e.to}:${e.actor}:${e.reason}`);
    expect(recs).toEqual(['transition:READY:token:alice(t1):GPU replaced', 'verdict:healthy:token:alice(t1):cleared: GPU replaced']);
    expect(kit.alerts.map((a) => a.state)).toEqual(['firing', 'resolved']);
  });

  it('clears a whole node: every GPU, its own findings and the policy cordon; an operator cordon stays', async () => {
    kit = await healthKit();
    kit.registry.seen(N1);
    await kit.registry.states.gpu(N1, uuid(3), 'cordon', 'token:bob(t2)', 'fan');
    await kit.event(xid(79, 0));
    await kit.event({ kind: 'gpu-missing', gpuUuid: uuid(1), pciBusId: pci(1), message: 'GPU 1 present at start is missing' });
    expect(kit.registry.get(N1)!.adminState).toBe('unhealthy');
    expect(nodeView(kit).gpus.map((g) => g.state)).toEqual(['UNHEALTHY', 'UNHEALTHY', 'READY', 'CORDONED']);
    expect((await kit.engine.clear(N1, null, 'token:alice(t1)', 'rebooted')).cleared).toBe(2);
    expect(kit.registry.get(N1)!.adminState).toBe('active');
    expect(nodeView(kit).gpus.map((g) => g.state)).toEqual(['READY', 'READY', 'READY', 'CORDONED']);
    expect(nodeView(kit).health.verdict).toBe('healthy');
  });

  it('a clear starts count windows over', async () => {
    kit = await healthKit();
    for (const t of [0, 1, 2]) await kit.event(xid(13, 0, { ts: T0 + t * MIN }));
    await kit.engine.clear(N1, uuid(0), 'op', 'job fixed');
    await kit.event(xid(13, 0, { ts: T0 + 3 * MIN }));
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('healthy');
  });

  it('uncorrectable ECC rises are unhealthy; a reset to 0 is not a match', async () => {
    kit = await healthKit();
    await kit.event(counter('ecc.uncorrected.volatile', 3, 0, 1));
    expect(kit.engine.verdictOf(N1, uuid(1))).toBe('healthy');
    await kit.event(counter('ecc.uncorrected.volatile', 0, 2, 1));
    expect(gpuView(kit, 1)).toMatchObject({
      state: 'UNHEALTHY',
      health: { verdict: 'unhealthy', rule: 'ecc-uncorrected', cause: 'ecc.uncorrected.volatile rose from 0 to 2' },
    });
    await kit.event(counter('remapped_rows.failure', false, true, 2));
    expect(gpuView(kit, 2).health.rule).toBe('remapped-rows-failure');
  });

  it('a missing GPU takes the node out of new work (UNHEALTHY) as well as the GPU', async () => {
    kit = await healthKit();
    await kit.event({ kind: 'gpu-missing', gpuUuid: uuid(1), pciBusId: pci(1), message: 'GPU 1 present at start is missing' });
    kit.registry.seen(N1);
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('UNHEALTHY');
    expect(kit.registry.states.mark(N1, null)).toMatchObject({ actor: 'health:gpu-missing', reason: 'GPU 1 present at start is missing' });
    expect(kit.registry.status(kit.registry.get(N2)!)).toBe('OFFLINE');
    expect(kit.registry.get(N2)!.adminState).toBe('active');
  });

  it('tool failures judge the node; the tool working again ends them and returns the node to READY', async () => {
    kit = await healthKit();
    await kit.event({
      kind: 'tool-failure',
      message: 'nvidia-smi failed: Unable to determine the device handle for GPU 0000:02:00.0: GPU is lost. Reboot the system',
      data: { vendor: 'nvidia', tool: 'nvidia-smi', exitCode: 15 },
    });
    expect(nodeView(kit).health).toMatchObject({ verdict: 'unhealthy', rule: 'tool-failure-gpu-lost' });
    expect(kit.registry.get(N1)!.adminState).toBe('unhealthy');
    await kit.event({ kind: 'tool-recovered', message: 'nvidia-smi works again', data: { tool: 'nvidia-smi' } });
    expect(nodeView(kit).health.findings).toEqual([]);
    expect(kit.registry.get(N1)!.adminState).toBe('active');
    expect(kit.registry.states.mark(N1, null)?.actor).toBe('health:recovered');
  });

  it('an operator decision is not undone by a recovery', async () => {
    kit = await healthKit();
    await kit.registry.states.node(N1, 'cordon', 'token:bob(t2)', 'maintenance');
    await kit.event({ kind: 'tool-failure', message: 'nvidia-smi failed: timeout', data: {} });
    await kit.event({ kind: 'tool-recovered', message: 'ok', data: {} });
    expect(kit.registry.get(N1)).toMatchObject({ adminState: 'cordoned', cordonReason: 'maintenance' });
  });

  it('SXids: the catalog decides fatal (node UNHEALTHY at once) or not (five within an hour degrade it)', async () => {
    kit = await healthKit();
    kit.registry.seen(N1);
    const fatal = SXID_CATALOG.find((e) => e.eventType === 'Fatal')!.code;
    const warning = SXID_CATALOG.find((e) => e.eventType === 'Warning')!.code;
    for (let i = 0; i < 4; i++)
      await kit.event({ kind: 'sxid', message: `nvidia-nvswitch0: SXid (PCI:0000:05:00.0): ${warning}, Non-fatal`, data: { code: warning } });
    expect(nodeView(kit).health.verdict).toBe('healthy');
    await kit.event({ kind: 'sxid', message: `nvidia-nvswitch0: SXid (PCI:0000:05:00.0): ${warning}, Non-fatal`, data: { code: warning } });
    expect(nodeView(kit).health).toMatchObject({ verdict: 'degraded', rule: 'sxid-nonfatal-repeated' });
    expect(kit.registry.get(N1)!.adminState).toBe('active');
    await kit.event({ kind: 'sxid', message: `nvidia-nvswitch0: SXid (PCI:0000:05:00.0): ${fatal}, Fatal`, data: { code: fatal } });
    expect(nodeView(kit).health).toMatchObject({ verdict: 'unhealthy', rule: 'sxid-fatal' });
    expect(kit.registry.get(N1)!.adminState).toBe('unhealthy');
    expect(nodeView(kit).gpus.every((g) => g.state === 'READY')).toBe(true);
  });

  it('ignores events of unknown and decommissioned nodes, and kinds no rule looks at', async () => {
    kit = await healthKit();
    await kit.event(xid(79, 0, { nodeId: 'did:key:z6MkStranger' }));
    await kit.registry.remove(N2);
    await kit.event(xid(79, 0, { nodeId: N2 }));
    await kit.event({ kind: 'agent-started', message: 'hello' });
    expect(await kit.store.listFindings()).toEqual([]);
    expect(kit.engine.counts.entries()).toEqual([{ kind: 'xid', code: '79', count: 2 }]);
  });

  it('reads findings back after a restart and keeps judging from there', async () => {
    kit = await healthKit();
    await kit.event(xid(79, 0));
    for (const t of [0, 1, 2]) await kit.event(xid(13, 1, { ts: T0 + t * MIN }));
    const registry = new NodeRegistry({
      remoteSessions: NO_OTHER_REPLICAS,
      store: kit.store,
      clock: kit.clock,
      hub: kit.hub,
      offlineAfterMs: 15_000,
      latestMetrics: () => null,
    });
    await registry.load();
    const engine = await createHealth({
      config: { healthPolicy: null, offlineGraceMs: 600_000 },
      store: kit.store,
      registry,
      clock: kit.clock,
      hub: kit.hub,
      onAlert: () => undefined,
    });
    expect(engine.verdictOf(N1, uuid(0))).toBe('unhealthy');
    expect(engine.verdictOf(N1, uuid(1))).toBe('degraded');
    expect(
      new NodeViews({ registry, states: registry.states, health: engine, allocations: NO_ALLOCATIONS, latestMetrics: () => null }).view(registry.get(N1)!)
        .gpus[0],
    ).toMatchObject({
      state: 'UNHEALTHY',
      health: { rule: 'xid-gpu-reset-required' },
    });
    kit.clock.advance(31 * MIN);
    engine.tick();
    await engine.flush();
    expect(engine.verdictOf(N1, uuid(1))).toBe('healthy');
  });
});

describe('health engine: metrics', () => {
  it('temperature above 83 for 5 minutes -> degraded; dips reset the clock; recovery needs <= 80 for 5 minutes', async () => {
    kit = await healthKit();
    const temp = async (t: number | null) => {
      await kit.metrics([{ temperatureC: t }, { temperatureC: 60 }]);
      kit.clock.advance(MIN);
    };
    for (const t of [84, 90, 88, 86]) await temp(t);
    await temp(83); // not above: the run is broken
    for (const t of [85, 86, 87, 88, 89]) await temp(t);
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('healthy');
    await temp(91); // 5 minutes since the run began at 85
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('degraded');
    expect(kit.engine.verdictOf(N1, uuid(1))).toBe('healthy');
    const f = kit.engine.findings(N1)[0]!;
    expect(f.rule).toBe('gpu-overheating');
    expect(f.cause).toBe('temperature_c above 83 for 5m (from 85, peak 91, now 91)');
    expect(f.evidence).toMatchObject({ metric: 'temperature_c', above: 83, first: 85, extreme: 91, last: 91, heldForMs: 5 * MIN });
    expect(kit.alerts.at(-1)).toMatchObject({ state: 'firing', rule: 'gpu-overheating' });
    // Cooling to 81 is not enough; null readings say nothing; 80 for 5 minutes is.
    for (const t of [81, 82, 81]) await temp(t);
    await temp(80);
    await temp(null);
    for (const t of [79, 78, 77, 76, 75]) await temp(t);
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('degraded');
    await temp(74);
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('healthy');
    const [last] = await kit.store.listHealthEvents({ type: 'verdict' });
    expect(last!.reason).toBe('recovered: temperature_c at or below 80 for 5m (now 74)');
    expect(kit.alerts.at(-1)).toMatchObject({ state: 'resolved', rule: 'gpu-overheating' });
  });

  it('a pending row remap degrades at once and ends a minute after it clears; throttle flags need 5 minutes', async () => {
    kit = await healthKit();
    await kit.metrics([{ remappedRowsPending: true, throttleReasons: ['hw_slowdown'] }]);
    expect(kit.engine.findings(N1).map((f) => f.rule)).toEqual(['remapped-rows-pending']);
    for (let i = 0; i < 5; i++) {
      kit.clock.advance(MIN);
      await kit.metrics([{ remappedRowsPending: false, throttleReasons: ['hw_slowdown'] }]);
    }
    expect(kit.engine.findings(N1).map((f) => f.rule)).toEqual(['hw-slowdown']);
  });

  it('custom metric rules: below-thresholds and recovery at the threshold', async () => {
    kit = await healthKit({
      policy: `version: 1
rules:
  - name: slow-clock
    description: SM clock below 500 MHz
    match: {kind: metric, metric: sm_clock_mhz, below: 500}
    for: 0s
    verdict: degraded
    recover: {for: 2m}
`,
    });
    await kit.metrics([{ smClockMhz: 400 }]);
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('degraded');
    await kit.metrics([{ smClockMhz: 500 }]);
    kit.clock.advance(2 * MIN);
    await kit.metrics([{ smClockMhz: 1200 }]);
    expect(kit.engine.verdictOf(N1, uuid(0))).toBe('healthy');
  });

  it('leaves everything alone on normal readings', async () => {
    kit = await healthKit();
    for (let i = 0; i < 50; i++) {
      await kit.metrics([{ temperatureC: 60, memoryTemperatureC: 70 }, { temperatureC: 55 }, {}, {}]);
      kit.clock.advance(10_000);
    }
    expect(await kit.store.listFindings()).toEqual([]);
    expect(await kit.store.listHealthEvents({})).toEqual([]);
  });
});

describe('health engine: actions and liveness', () => {
  const DRAIN_POLICY = `version: 1
rules:
  - name: nvswitch-down
    description: any SXid drains the node
    match: {kind: sxid}
    verdict: unhealthy
    scope: node
    actions: [drain-node, alert]
    recover: {after: 1h}
  - name: hot-cordon
    description: hot GPU is cordoned
    match: {kind: metric, metric: temperature_c, above: 90}
    verdict: degraded
    actions: [cordon-gpu]
    recover: {for: 0s}
`;

  it('drain-node drains the node and undoes it when the finding ends', async () => {
    kit = await healthKit({ policy: DRAIN_POLICY, runningWork: () => 0 });
    await kit.event({ kind: 'sxid', message: 'SXid 20034', data: { code: 20034 } });
    // The policy drains; the drain logic (services/node-drains.ts) ends it, nothing running.
    expect(kit.registry.get(N1)!.adminState).toBe('draining');
    expect(await kit.drains.tick()).toEqual([N1]);
    expect(kit.registry.get(N1)!.adminState).toBe('drained');
    expect(kit.registry.states.mark(N1, null)?.actor).toBe('health:nvswitch-down');
    kit.clock.advance(61 * MIN);
    kit.engine.tick();
    await kit.engine.flush();
    expect(kit.registry.get(N1)!.adminState).toBe('active');
  });

  it('a degraded cordon-gpu verdict CORDONs the GPU and lifts it on recovery; an operator cordon survives', async () => {
    kit = await healthKit({ policy: DRAIN_POLICY });
    await kit.registry.states.gpu(N1, uuid(1), 'cordon', 'token:bob(t2)', 'maintenance');
    await kit.metrics([{ temperatureC: 95 }, { temperatureC: 95 }]);
    expect(
      nodeView(kit)
        .gpus.slice(0, 2)
        .map((g) => `${g.state}:${g.stateChange?.by}`),
    ).toEqual(['CORDONED:health:hot-cordon', 'CORDONED:token:bob(t2)']);
    await kit.metrics([{ temperatureC: 60 }, { temperatureC: 60 }]);
    expect(
      nodeView(kit)
        .gpus.slice(0, 2)
        .map((g) => g.state),
    ).toEqual(['READY', 'CORDONED']);
  });

  it('reports an offline node as unknown after the grace period, never worse than what it had', async () => {
    kit = await healthKit({ offlineGraceMs: 10 * MIN });
    kit.registry.seen(N1);
    kit.registry.seen(N2);
    await kit.metrics([{}, {}, {}, {}], N1);
    await kit.event(xid(79, 0, { nodeId: N2 }));
    kit.clock.advance(MIN);
    kit.registry.sweep(() => false);
    expect(nodeView(kit).status).toBe('OFFLINE');
    expect(nodeView(kit).health.verdict).toBe('healthy');
    kit.clock.advance(10 * MIN);
    expect(nodeView(kit).health).toMatchObject({ verdict: 'unknown', cause: 'offline longer than the grace period' });
    expect(gpuView(kit, 0).health.verdict).toBe('unknown');
    expect(nodeView(kit, N2).health.verdict).toBe('unhealthy');
    // Nothing destructive: the offline node's state is untouched.
    expect(kit.registry.get(N1)!.adminState).toBe('active');
  });
});
