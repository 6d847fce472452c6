import { describe, expect, it } from 'vitest';
import { generateEd25519 } from '@gpufleet/protocol';
import { capabilityFor, signedCommand } from '../testing/exec-harness.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import { MemoryStateStore } from '../runtime/state.js';
import { CommandHandler } from './command-handler.js';
import type { CommandRunnerLike, RunRequest } from './command-runner.js';
import type { ContainerOpFn } from './container-run.js';
import { TrustStore } from './trust-store.js';

const root = generateEd25519();
const remediator = generateEd25519();

interface Sent {
  event: NewAgentEvent;
  critical: boolean;
}

function handler(o: { containerOp?: ContainerOpFn; runner?: CommandRunnerLike; labels?: Record<string, string>; commandsEnabled?: boolean } = {}) {
  const sent: Sent[] = [];
  const requests: RunRequest[] = [];
  const runner: CommandRunnerLike = o.runner ?? {
    start: (req, hooks) => {
      requests.push(req);
      hooks.onStart?.(4242);
      hooks.onOutput({ stream: 'stdout', chunk: 0, data: 'ok\n' });
      return {
        done: Promise.resolve({ exitCode: 0, signal: null, timedOut: false, canceled: false, durationMs: 1, outputBytes: 3, truncated: false }),
        cancel: () => {},
      };
    },
  };
  const h = new CommandHandler({
    trust: new TrustStore({ state: new MemoryStateStore(), joinRoots: [root.did] }),
    runner,
    enqueue: (event, critical) => sent.push({ event, critical }),
    hostLabels: () => o.labels ?? { hostname: 'h1', pool: 'inference' },
    containerOp: o.containerOp ? async () => o.containerOp! : undefined,
    ...(o.commandsEnabled === undefined ? {} : { commandsEnabled: o.commandsEnabled }),
  });
  const kinds = (runId: string) => sent.filter((s) => (s.event.data as { runId?: string }).runId === runId).map((s) => s.event.kind);
  const waitKind = async (runId: string, kind: NewAgentEvent['kind']) => {
    const until = Date.now() + 5000;
    while (!kinds(runId).includes(kind)) {
      if (Date.now() > until) throw new Error(`no ${kind} for ${runId}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return sent.find((s) => s.event.kind === kind && (s.event.data as { runId?: string }).runId === runId)!;
  };
  return { h, sent, requests, kinds, waitKind };
}

describe('CommandHandler', () => {
  it('with commands turned off refuses even a root-signed command and runs nothing', async () => {
    const ran: string[] = [];
    const t = handler({ commandsEnabled: false, containerOp: async (spec) => (ran.push(spec.op), { exitCode: 0 }) });
    const cmd = signedCommand(root, { command: { kind: 'argv', argv: ['echo', 'ok'] } });
    t.h.onCommand({ command: cmd, scriptContent: null, scriptSignature: null });
    const refused = await t.waitKind(cmd.payload.runId, 'run-refused');
    expect(refused.event.data).toMatchObject({ reason: 'unsupported', message: expect.stringMatching(/remote commands are turned off on this host/) });
    const container = signedCommand(root, { command: { kind: 'container', op: 'restart', container: 'vllm' } });
    t.h.onCommand({ command: container, scriptContent: null, scriptSignature: null });
    await t.waitKind(container.payload.runId, 'run-refused');
    expect(t.requests).toEqual([]);
    expect(ran).toEqual([]);
    expect(t.kinds(cmd.payload.runId)).toEqual(['run-refused']);
  });

  it('sends output as non-critical events and started/result as critical ones', async () => {
    const t = handler();
    const cmd = signedCommand(root, { command: { kind: 'argv', argv: ['echo', 'ok'] }, env: { A: '1' }, cwd: '/tmp', timeoutMs: 1234 });
    t.h.onCommand({ command: cmd, scriptContent: null, scriptSignature: null });
    await t.waitKind(cmd.payload.runId, 'run-result');
    expect(t.sent.map((s) => [s.event.kind, s.critical])).toEqual([
      ['run-started', true],
      ['run-output', false],
      ['run-result', true],
    ]);
    expect(t.requests[0]).toMatchObject({ command: { kind: 'argv', argv: ['echo', 'ok'] }, env: { A: '1' }, cwd: '/tmp', timeoutMs: 1234, runAs: null });
    expect(t.h.running).toBe(0);
  });

  it('runs a container operation delegated to the control plane on a matching pool', async () => {
    const seen: string[] = [];
    const op: ContainerOpFn = async (spec, io) => {
      seen.push(`${spec.op} ${spec.container}`);
      io.onOutput('stdout', 'restarted\n');
      return { exitCode: 0 };
    };
    const t = handler({ containerOp: op });
    const cap = capabilityFor(root, remediator.did, { can: ['container/restart'], on: 'pool=inference' });
    const cmd = signedCommand(remediator, { command: { kind: 'container', op: 'restart', container: 'vllm' }, capability: cap });
    t.h.onCommand({ command: cmd, scriptContent: null, scriptSignature: null });
    const result = await t.waitKind(cmd.payload.runId, 'run-result');
    expect(seen).toEqual(['restart vllm']);
    expect(result.event.data).toMatchObject({ exitCode: 0, outputBytes: 10 });
    expect(t.kinds(cmd.payload.runId)).toEqual(['run-started', 'run-output', 'run-result']);
    // The same capability does not stretch to stopping containers, nor to other pools.
    const stop = signedCommand(remediator, { command: { kind: 'container', op: 'stop', container: 'vllm' }, capability: cap });
    t.h.onCommand({ command: stop, scriptContent: null, scriptSignature: null });
    expect((await t.waitKind(stop.payload.runId, 'run-refused')).event.data).toMatchObject({ reason: 'ability_not_granted' });
    const elsewhere = handler({ containerOp: op, labels: { pool: 'training' } });
    const cmd2 = signedCommand(remediator, { command: { kind: 'container', op: 'restart', container: 'vllm' }, capability: cap });
    elsewhere.h.onCommand({ command: cmd2, scriptContent: null, scriptSignature: null });
    expect((await elsewhere.waitKind(cmd2.payload.runId, 'run-refused')).event.data).toMatchObject({ reason: 'selector_mismatch' });
    expect(seen).toEqual(['restart vllm']);
  });

  it('aborts a container operation on timeout and on cancel, and reports engine failures as exit 125', async () => {
    const hang: ContainerOpFn = (_spec, io) =>
      new Promise((_resolve, reject) => {
        io.signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
    const t = handler({ containerOp: hang });
    const timed = signedCommand(root, { command: { kind: 'container', op: 'logs', container: 'c1', follow: true }, timeoutMs: 50 });
    t.h.onCommand({ command: timed, scriptContent: null, scriptSignature: null });
    expect((await t.waitKind(timed.payload.runId, 'run-result')).event.data).toMatchObject({ timedOut: true, canceled: false, exitCode: null });
    const canceled = signedCommand(root, { command: { kind: 'container', op: 'logs', container: 'c1', follow: true } });
    t.h.onCommand({ command: canceled, scriptContent: null, scriptSignature: null });
    expect(t.h.isRunning(canceled.payload.runId)).toBe(true);
    t.h.onCancel(canceled.payload.runId);
    expect((await t.waitKind(canceled.payload.runId, 'run-result')).event.data).toMatchObject({ canceled: true, timedOut: false });

    const failing = handler({ containerOp: async () => Promise.reject(new Error('no such container: c9')) });
    const cmd = signedCommand(root, { command: { kind: 'container', op: 'start', container: 'c9' } });
    failing.h.onCommand({ command: cmd, scriptContent: null, scriptSignature: null });
    expect((await failing.waitKind(cmd.payload.runId, 'run-result')).event.data).toMatchObject({ exitCode: 125 });
    const out = failing.sent.find((s) => s.event.kind === 'run-output')!.event.data as { stream: string; data: string };
    expect(out.stream).toBe('stderr');
    expect(out.data).toMatch(/no such container: c9/);
  });

  it('waits for canceled runs on stopAll', async () => {
    let cancels = 0;
    let finish: (() => void) | null = null;
    const runner: CommandRunnerLike = {
      start: (_req, hooks) => {
        hooks.onStart?.(1);
        return {
          done: new Promise((resolve) => {
            finish = () => resolve({ exitCode: null, signal: 'SIGTERM', timedOut: false, canceled: true, durationMs: 2, outputBytes: 0, truncated: false });
          }),
          cancel: () => {
            cancels++;
            setTimeout(() => finish?.(), 20);
          },
        };
      },
    };
    const t = handler({ runner });
    const cmd = signedCommand(root, { command: { kind: 'shell', script: 'sleep 9' } });
    t.h.onCommand({ command: cmd, scriptContent: null, scriptSignature: null });
    await t.h.stopAll();
    expect(cancels).toBe(1);
    expect(t.kinds(cmd.payload.runId)).toEqual(['run-started', 'run-result']);
  });
});
