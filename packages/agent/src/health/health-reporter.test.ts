import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentEvent, emptyGpuSnapshot, type GpuSnapshot } from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { StubBackend, stubGpu } from '../testing/stub-backend.js';
import { Agent } from '../runtime/agent.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import { identityFromSeed } from '../runtime/identity.js';
import { MemoryStateStore } from '../runtime/state.js';
import { HealthReporter } from './health-reporter.js';
import { parseKernelLine } from './kernel-line.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-health-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const GPU0 = stubGpu(0); // 0000:18:00.0
const GPU1 = stubGpu(1); // 0000:19:00.0

function reporter(extra: Partial<ConstructorParameters<typeof HealthReporter>[0]> = {}) {
  const sent: NewAgentEvent[] = [];
  let now = Date.UTC(2025, 0, 1);
  const r = new HealthReporter({ enqueue: (e) => sent.push(e), clock: { now: () => now }, ...extra });
  return { r, sent, advance: (ms: number) => (now += ms), now: () => now };
}

/** The event as the agent would build it: must pass the protocol schema. */
function asAgentEvent(e: NewAgentEvent, ts: number): AgentEvent {
  return AgentEvent.parse({
    id: 'x',
    ts: e.ts ?? ts,
    kind: e.kind,
    gpuUuid: e.gpuUuid ?? null,
    pciBusId: e.pciBusId ?? null,
    message: e.message,
    data: e.data ?? {},
  });
}

describe('HealthReporter: kernel events', () => {
  it('sends an Xid with the GPU UUID, the catalog verdict and the raw line', () => {
    const { r, sent, now } = reporter();
    r.observe([GPU0, GPU1]);
    r.reportKernelEvent(parseKernelLine('[Fri Aug 30 11:43:09 2024] NVRM: Xid (PCI:0000:19:00): 79, pid=12, name=python3, GPU has fallen off the bus.')!);
    expect(sent).toHaveLength(1);
    const e = asAgentEvent(sent[0]!, now());
    expect(e).toMatchObject({ kind: 'xid', gpuUuid: GPU1.uuid, pciBusId: '0000:19:00.0', ts: new Date(2024, 7, 30, 11, 43, 9).getTime() });
    expect(e.message).toBe('Xid 79 (GPU has fallen off the bus) on 0000:19:00.0: GPU has fallen off the bus.');
    expect(e.data).toEqual({
      code: 79,
      gpuInstance: null,
      computeInstance: null,
      pid: 12,
      process: 'python3',
      causedBy: null,
      line: '[Fri Aug 30 11:43:09 2024] NVRM: Xid (PCI:0000:19:00): 79, pid=12, name=python3, GPU has fallen off the bus.',
      severity: 'critical',
      action: 'RESTART_BM',
      description: 'GPU has fallen off the bus',
    });
  });

  it('sends a redacted Xid, and one on an address with no GPU, without a GPU and says so', () => {
    const { r, sent, now } = reporter();
    r.observe([GPU0, GPU1]);
    r.reportKernelEvent(parseKernelLine('NVRM: Xid (PCI:...): 137, pid=1, name=python, NVLink fatal')!);
    r.reportKernelEvent(parseKernelLine('NVRM: Xid (PCI:0000:c1:00): 79, pid=1, GPU has fallen off the bus.')!);
    const [redacted, stray] = sent.map((e) => asAgentEvent(e, now()));
    expect(redacted).toMatchObject({ kind: 'xid', gpuUuid: null, pciBusId: null, data: { code: 137 } });
    expect(redacted!.message).toMatch(/^Xid 137 .* on an unknown GPU \(no PCI address in the line\): NVLink fatal$/);
    expect(stray).toMatchObject({ kind: 'xid', gpuUuid: null, pciBusId: '0000:c1:00.0', data: { code: 79 } });
    expect(stray!.message).toMatch(/ on 0000:c1:00\.0 \(no GPU known at that address\): /);
  });

  it('sends each kernel kind under its own event kind; NVSwitch SXids get no GPU', () => {
    const { r, sent } = reporter();
    r.observe([GPU0]);
    for (const line of [
      'NVRM: GPU 0000:18:00.0: GPU has fallen off the bus.',
      'nvidia-nvswitch1: SXid (PCI:0000:18:00.0): 20034, Fatal, Link 48 LTSSM Fault Up',
      'NVRM: GPU 0000:18:00.0: RmInitAdapter failed! (0x26:0xffff:1547)',
      'NVRM: Xid (PCI:0000:18:00 GPU-I:03): 94, pid=7, Contained: CE User Channel (0x9). RST: No, D-RST: No',
    ])
      r.reportKernelEvent(parseKernelLine(line)!);
    expect(sent.map((e) => [e.kind, e.gpuUuid, e.data!.code, e.data!.severity])).toEqual([
      ['fallen-off-bus', GPU0.uuid, 79, 'critical'],
      ['sxid', null, 20034, 'critical'],
      ['driver', GPU0.uuid, null, 'critical'],
      ['xid', GPU0.uuid, 94, 'warning'],
    ]);
    expect(sent[3]!.data!.gpuInstance).toBe('3');
  });

  it('leaves the UUID null for an address not in any inventory, and remembers GPUs that left', () => {
    const { r, sent } = reporter();
    r.observe([GPU0, GPU1]);
    r.observe([GPU0]); // GPU1 fell off the bus: its lines still name it
    r.reportKernelEvent(parseKernelLine('NVRM: Xid (PCI:0000:19:00): 79, GPU has fallen off the bus.')!);
    r.reportKernelEvent(parseKernelLine('NVRM: Xid (PCI:0000:77:00): 13, Graphics Exception')!);
    expect(sent.map((e) => e.gpuUuid)).toEqual([GPU1.uuid, null]);
  });

  it('uses now for a line without an absolute time or with one far in the future', () => {
    const { r, sent, now } = reporter();
    r.reportKernelEvent(parseKernelLine('[ 5.0] NVRM: Xid (PCI:0000:18:00): 13, x')!);
    r.reportKernelEvent({ ...parseKernelLine('NVRM: Xid (PCI:0000:18:00): 31, x')!, timestamp: now() + 10 * 86_400_000 });
    r.reportKernelEvent({ ...parseKernelLine('NVRM: Xid (PCI:0000:18:00): 32, x')!, timestamp: -5 });
    expect(sent.map((e) => e.ts)).toEqual([undefined, undefined, undefined]);
  });

  it('cuts a huge line so the event still fits the protocol', () => {
    const { r, sent, now } = reporter();
    r.reportKernelEvent(parseKernelLine(`NVRM: Xid (PCI:0000:18:00): 13, ${'x'.repeat(100_000)}`)!);
    expect(String(sent[0]!.data!.line).length).toBe(4096);
    expect(() => asAgentEvent(sent[0]!, now())).not.toThrow();
  });

  it('holds back an Xid storm past the per-minute limit and reports the count with the next event', () => {
    const { r, sent, advance } = reporter({ maxEventsPerMinute: 3 });
    const xid13 = parseKernelLine('NVRM: Xid (PCI:0000:18:00): 13, Graphics Exception')!;
    for (let i = 0; i < 10; i++) r.reportKernelEvent(xid13);
    // Another code on the same GPU is not held back by the storm.
    r.reportKernelEvent(parseKernelLine('NVRM: Xid (PCI:0000:18:00): 48, DBE')!);
    expect(sent.map((e) => e.data!.code)).toEqual([13, 13, 13, 48]);
    expect(r.stats.suppressed).toBe(7);
    advance(60_000);
    r.reportKernelEvent(xid13);
    expect(sent.at(-1)!.data).toMatchObject({ code: 13, suppressed: 7 });
    r.reportKernelEvent(xid13);
    expect(sent.at(-1)!.data!.suppressed).toBeUndefined();
  });

  it('logs and goes on when enqueue throws', () => {
    const logs: string[] = [];
    const r = new HealthReporter({
      enqueue: () => {
        throw new Error('disk full');
      },
      logger: { debug() {}, info() {}, warn() {}, error: (m) => logs.push(m) },
    });
    expect(() => r.reportKernelEvent(parseKernelLine('NVRM: Xid (PCI:0000:18:00): 13, x')!)).not.toThrow();
    expect(logs).toEqual(['could not enqueue a health event']);
  });
});

describe('HealthReporter: counters', () => {
  it('sends counter events with the GPU and a severity', () => {
    const { r, sent, now } = reporter();
    r.observe([GPU0]);
    r.observe([{ ...GPU0, eccUncorrectedVolatile: 2, throttleReasons: ['hw_slowdown'] }]);
    r.observe([{ ...GPU0, eccUncorrectedVolatile: 2 }]);
    expect(sent.map((e) => [e.kind, e.gpuUuid, e.data])).toEqual([
      ['counter', GPU0.uuid, { counter: 'ecc.uncorrected.volatile', previous: null, current: 2, index: 0, severity: 'critical' }],
      ['counter', GPU0.uuid, { counter: 'throttle.hw_slowdown', previous: false, current: true, index: 0, severity: 'warning' }],
      ['counter', GPU0.uuid, { counter: 'throttle.hw_slowdown', previous: true, current: false, index: 0, severity: 'info' }],
    ]);
    expect(sent[0]!.message).toBe('GPU 0 (0000:18:00.0): ecc.uncorrected.volatile is 2');
    expect(sent[1]!.message).toBe('GPU 0 (0000:18:00.0): throttle.hw_slowdown false -> true');
    for (const e of sent) expect(() => asAgentEvent(e, now())).not.toThrow();
  });

  it('uses the configured corrected-ECC threshold', () => {
    const { r, sent } = reporter({ counters: { correctedJump: 10 } });
    const g: GpuSnapshot = { ...emptyGpuSnapshot('nvidia', 0), uuid: 'GPU-x', eccCorrectedVolatile: 0 };
    r.observe([g]);
    r.observe([{ ...g, eccCorrectedVolatile: 11 }]);
    expect(sent.map((e) => e.data!.counter)).toEqual(['ecc.corrected.volatile']);
  });
});

describe('HealthReporter: kernel log watching', () => {
  it('follows a file given as the source and reports what appears in it', async () => {
    const path = join(tmp(), 'kern.log');
    writeFileSync(path, '');
    const sent: NewAgentEvent[] = [];
    const r = new HealthReporter({ enqueue: (e) => sent.push(e), kernelLog: { source: { file: path }, pollMs: 10 } });
    cleanups.push(() => r.stop());
    r.observe([GPU0]);
    r.start();
    expect(r.kernelLog?.source).toBe('file');
    appendFileSync(path, '[ 9.0] NVRM: Xid (PCI:0000:18:00): 48, An uncorrectable double bit error\n');
    const end = Date.now() + 3000;
    while (sent.length === 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
    expect(sent[0]).toMatchObject({ kind: 'xid', gpuUuid: GPU0.uuid, data: { code: 48, severity: 'critical', action: 'WORKFLOW_XID_48' } });
    r.stop();
    expect(r.kernelLog?.state).toBe('stopped');
  });

  it('has no watcher unless asked', () => {
    expect(new HealthReporter({ enqueue: () => {} }).kernelLog).toBeNull();
  });
});

describe('Agent with health options', () => {
  it('sends kernel Xid events and counter changes through the outbox to the server', async () => {
    const cp = new FakeControlPlane({ heartbeatMs: 50, metricsIntervalMs: 30 });
    await cp.start();
    cleanups.push(() => cp.stop());
    const identity = identityFromSeed(new Uint8Array(32).fill(77));
    const node = cp.addNode(identity.did);
    const state = new MemoryStateStore({ nodeId: identity.did, serverUrl: cp.url, caPem: null, roots: [], heartbeatMs: 50, labels: {} });
    const backend = new StubBackend(2);
    const path = join(tmp(), 'kern.log');
    writeFileSync(path, '');
    const agent = new Agent({
      state,
      identity,
      backend,
      agentVersion: '1',
      backoff: { baseMs: 20, capMs: 100 },
      health: { kernelLog: { source: { file: path }, pollMs: 10 } },
    });
    cleanups.push(() => agent.stop());
    await agent.start();
    expect(agent.health?.kernelLog?.source).toBe('file');
    await cp.waitFor('welcome inventory', () => node.inventories.length === 1);

    appendFileSync(path, '[ 9.0] NVRM: Xid (PCI:0000:19:00): 79, pid=1, name=python3, GPU has fallen off the bus.\n');
    await cp.waitFor('the xid event', () => node.events.some((e) => e.body.kind === 'xid'));
    const xid = node.events.find((e) => e.body.kind === 'xid')!.body;
    expect(xid).toMatchObject({
      gpuUuid: backend.gpuList[1]!.uuid,
      pciBusId: '0000:19:00.0',
      data: { code: 79, severity: 'critical', action: 'RESTART_BM', pid: 1 },
    });

    backend.gpuList = [{ ...backend.gpuList[0]!, remappedRowsFailure: true }, backend.gpuList[1]!];
    await cp.waitFor('the counter event', () => node.events.some((e) => e.body.kind === 'counter'));
    expect(node.events.find((e) => e.body.kind === 'counter')!.body).toMatchObject({
      gpuUuid: backend.gpuList[0]!.uuid,
      data: { counter: 'remapped_rows.failure', current: true },
    });
    expect(cp.violations).toEqual([]);

    await agent.stop();
    expect(agent.health?.kernelLog?.state).toBe('stopped');
  });

  it('watches nothing without the option', async () => {
    const agent = new Agent({ state: new MemoryStateStore(), identity: identityFromSeed(new Uint8Array(32)), backend: new StubBackend(), agentVersion: '1' });
    expect(agent.health).toBeNull();
  });
});
