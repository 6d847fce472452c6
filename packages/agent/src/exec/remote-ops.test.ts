import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateEd25519, scriptSha256, signScript, type AgentEvent } from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { deliver, runEvents, signedCommand, startExecAgent, waitForRunEvent } from '../testing/exec-harness.js';
import { processAlive, waitGone } from '../testing/process-probe.js';
import { FileStateStore } from '../runtime/file-state.js';
import { TrustStore } from './trust-store.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const root = generateEd25519();

async function plane(): Promise<FakeControlPlane> {
  const cp = new FakeControlPlane({ heartbeatMs: 1000 });
  await cp.start();
  cleanups.push(() => cp.stop());
  return cp;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-exec-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function live(cp: FakeControlPlane, extra: Partial<Parameters<typeof startExecAgent>[1]> = {}) {
  const a = await startExecAgent(cp, { roots: [root.did], labels: { region: 'eu' }, ...extra });
  cleanups.push(() => a.agent.stop());
  return a;
}

function lines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

function outputOf(events: { body: AgentEvent }[], stream: 'stdout' | 'stderr' = 'stdout'): string {
  return events
    .filter((e) => e.body.kind === 'run-output' && e.body.data.stream === stream)
    .map((e) => e.body.data.data as string)
    .join('');
}

/** Pids the command printed, one per line, once `n` of them arrived. */
async function printedPids(cp: FakeControlPlane, node: Parameters<typeof runEvents>[0], runId: string, n: number): Promise<number[]> {
  let pids: number[] = [];
  await cp.waitFor(`${n} pids from ${runId}`, () => {
    pids = outputOf(runEvents(node, runId))
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
    return pids.length >= n;
  });
  return pids;
}

describe('remote operations on the agent', () => {
  it('runs a signed echo and reports started, output and result in order, with seqs and chunk numbers', async () => {
    const cp = await plane();
    const { node, identity } = await live(cp);
    const cmd = signedCommand(root, { command: { kind: 'argv', argv: ['echo', 'hello', 'fleet'] } });
    deliver(cp, identity.did, cmd);
    const result = await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    const events = runEvents(node, cmd.payload.runId);
    expect(events.map((e) => e.body.kind)).toEqual(['run-started', 'run-output', 'run-result']);
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
    expect(events[0]!.body.data).toMatchObject({ runId: cmd.payload.runId, pid: expect.any(Number) });
    expect(events[1]!.body.data).toEqual({ runId: cmd.payload.runId, stream: 'stdout', chunk: 0, data: 'hello fleet\n' });
    expect(result.data).toMatchObject({ exitCode: 0, signal: null, timedOut: false, canceled: false, truncated: false, outputBytes: 12 });
    expect(cp.violations).toEqual([]);
  });

  it('runs a shell script and reports stderr and a failing exit code', async () => {
    const cp = await plane();
    const { node, identity } = await live(cp);
    const cmd = signedCommand(root, { command: { kind: 'shell', script: 'for i in 1 2 3; do echo "line $i"; done; echo oops >&2; exit 4' } });
    deliver(cp, identity.did, cmd);
    const result = await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    expect(result.data.exitCode).toBe(4);
    const events = runEvents(node, cmd.payload.runId);
    expect(outputOf(events)).toBe('line 1\nline 2\nline 3\n');
    expect(outputOf(events, 'stderr')).toBe('oops\n');
    expect(result.message).toMatch(/exit 4/);
  });

  it('passes env and cwd to the command', async () => {
    const cp = await plane();
    const { node, identity } = await live(cp);
    const dir = tempDir();
    const cmd = signedCommand(root, { command: { kind: 'shell', script: 'echo "$GREETING from $(pwd)"' }, env: { GREETING: 'hi there' }, cwd: dir });
    deliver(cp, identity.did, cmd);
    await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    expect(outputOf(runEvents(node, cmd.payload.runId))).toBe(`hi there from ${dir}\n`);
  });

  it('kills the whole process group when the run times out', async () => {
    const cp = await plane();
    const { node, identity } = await live(cp);
    const cmd = signedCommand(root, { command: { kind: 'shell', script: 'sleep 100 & echo $!; sleep 100 & echo $!; wait' }, timeoutMs: 700 });
    deliver(cp, identity.did, cmd);
    const pids = await printedPids(cp, node, cmd.payload.runId, 2);
    expect(pids.every(processAlive)).toBe(true);
    const result = await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    expect(result.data).toMatchObject({ timedOut: true, canceled: false });
    await waitGone([...pids, runEvents(node, cmd.payload.runId)[0]!.body.data.pid as number], 3000);
  });

  it('kills the whole process group on a cancel frame', async () => {
    const cp = await plane();
    const { node, identity } = await live(cp);
    const cmd = signedCommand(root, { command: { kind: 'shell', script: 'sleep 100 & echo $!; sleep 100 & echo $!; wait' } });
    deliver(cp, identity.did, cmd);
    const pids = await printedPids(cp, node, cmd.payload.runId, 2);
    cp.sendTo(identity.did, { t: 'cancel', body: { runId: cmd.payload.runId } });
    const result = await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    expect(result.data).toMatchObject({ canceled: true, timedOut: false });
    await waitGone(pids, 3000);
  });

  it('caps the output per run with one truncation marker', async () => {
    const cp = await plane();
    const { node, identity } = await live(cp, { exec: { outputCapBytes: 40_000 } });
    const cmd = signedCommand(root, { command: { kind: 'shell', script: "head -c 100000 /dev/zero | tr '\\0' x; echo done >&2" } });
    deliver(cp, identity.did, cmd);
    const result = await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    expect(result.data).toMatchObject({ truncated: true, outputBytes: 100_005, exitCode: 0 });
    const outputs = runEvents(node, cmd.payload.runId).filter((e) => e.body.kind === 'run-output');
    const markers = outputs.filter((e) => e.body.data.truncated === true);
    expect(markers).toHaveLength(1);
    expect(outputs.at(-1)).toBe(markers[0]);
    expect(outputs.filter((e) => !e.body.data.truncated).reduce((n, e) => n + Buffer.byteLength(e.body.data.data as string), 0)).toBe(40_000);
  });

  it('runs a signed library script with its arguments', async () => {
    const cp = await plane();
    const { node, identity } = await live(cp);
    const content = '#!/bin/sh\necho "checked $1 and $2"\n';
    const sha256 = scriptSha256(content);
    const cmd = signedCommand(root, { command: { kind: 'script', name: 'check', version: 2, sha256, args: ['gpu0', 'gpu1'] } });
    deliver(cp, identity.did, cmd, { content, signature: signScript('check', 2, sha256, root.privateKeyPem) });
    const result = await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    expect(result.data.exitCode).toBe(0);
    expect(outputOf(runEvents(node, cmd.payload.runId))).toBe('checked gpu0 and gpu1\n');
  });

  it('runs a command delivered twice only once and reports its stored result again', async () => {
    const cp = await plane();
    const { node, identity } = await live(cp);
    const marker = join(tempDir(), 'marker');
    const cmd = signedCommand(root, { command: { kind: 'shell', script: `sleep 0.3; echo ran >> ${marker}` } });
    deliver(cp, identity.did, cmd);
    // Again while it runs, and again after it finished.
    deliver(cp, identity.did, cmd);
    await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    deliver(cp, identity.did, cmd);
    await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result', 2);
    expect(lines(marker)).toEqual(['ran']);
    const kinds = runEvents(node, cmd.payload.runId).map((e) => e.body.kind);
    expect(kinds.filter((k) => k === 'run-started')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'run-refused')).toHaveLength(0);
  });

  it('never runs a command twice across an agent restart (FileStateStore)', async () => {
    const cp = await plane();
    const dir = tempDir();
    const marker = join(tempDir(), 'marker');
    const first = await startExecAgent(cp, { roots: [root.did], state: new FileStateStore(dir) });
    const cmd = signedCommand(root, { command: { kind: 'shell', script: `echo ran >> ${marker}` } });
    deliver(cp, first.identity.did, cmd);
    await waitForRunEvent(cp, first.node, cmd.payload.runId, 'run-result');
    await first.agent.stop();
    const second = await startExecAgent(cp, { roots: [root.did], state: new FileStateStore(dir) });
    cleanups.push(() => second.agent.stop());
    deliver(cp, second.identity.did, cmd);
    const again = await waitForRunEvent(cp, second.node, cmd.payload.runId, 'run-result', 2);
    expect(again.data.exitCode).toBe(0);
    expect(lines(marker)).toEqual(['ran']);
  });

  it('reports a run the agent lost in a crash as interrupted, and does not start it when delivered again', async () => {
    const cp = await plane();
    const dir = tempDir();
    const marker = join(tempDir(), 'marker');
    const cmd = signedCommand(root, { command: { kind: 'shell', script: `echo ran >> ${marker}` } });
    const state = new FileStateStore(dir);
    // As if the agent recorded the run and died before (or while) it ran.
    const { identity } = await startExecAgent(cp, { roots: [root.did], state }).then(async (a) => (await a.agent.stop(), a));
    new TrustStore({ state, joinRoots: [root.did] }).recordStart({
      runId: cmd.payload.runId,
      nonce: cmd.payload.nonce,
      sig: cmd.sig,
      issuedAt: cmd.payload.issuedAt,
    });
    const restarted = await startExecAgent(cp, { roots: [root.did], state: new FileStateStore(dir) });
    cleanups.push(() => restarted.agent.stop());
    const interrupted = await waitForRunEvent(cp, restarted.node, cmd.payload.runId, 'run-result');
    expect(interrupted.data).toMatchObject({ exitCode: null, signal: null });
    expect(interrupted.message).toMatch(/outcome is unknown/);
    deliver(cp, identity.did, cmd);
    await waitForRunEvent(cp, restarted.node, cmd.payload.runId, 'run-result', 2);
    expect(lines(marker)).toEqual([]);
  });

  it('sends output that arose while disconnected after the reconnect, in order', async () => {
    const cp = await plane();
    const { node, identity, agent } = await live(cp);
    const cmd = signedCommand(root, { command: { kind: 'shell', script: 'echo before; sleep 0.4; echo after' } });
    deliver(cp, identity.did, cmd);
    await cp.waitFor('first output', () => outputOf(runEvents(node, cmd.payload.runId)).includes('before'));
    const welcomes = node.welcomes;
    cp.kick(identity.did);
    await waitForRunEvent(cp, node, cmd.payload.runId, 'run-result');
    expect(node.welcomes).toBeGreaterThan(welcomes);
    expect(outputOf(runEvents(node, cmd.payload.runId))).toBe('before\nafter\n');
    expect(cp.violations).toEqual([]);
    expect(agent.outbox.refused).toBe(0);
  });

  it('cancels running commands when the agent stops, and reports them canceled', async () => {
    const cp = await plane();
    const { node, identity, agent } = await live(cp);
    const cmd = signedCommand(root, { command: { kind: 'shell', script: 'echo $$; sleep 100' } });
    deliver(cp, identity.did, cmd);
    const [pid] = await printedPids(cp, node, cmd.payload.runId, 1);
    await agent.stop();
    await waitGone([pid!], 3000);
    // Sent before the session closed, or kept in the outbox for the next one.
    const pending = agent.outbox.pending().flatMap((i) => (i.t === 'event' ? [i.body] : []));
    const results = [...runEvents(node, cmd.payload.runId).map((e) => e.body), ...pending].filter(
      (e) => e.kind === 'run-result' && e.data.runId === cmd.payload.runId,
    );
    expect(results).toHaveLength(1);
    expect(results[0]!.data).toMatchObject({ canceled: true });
  });
});
