// Small pieces every benchmark shares: the machine it ran on, rounding, waiting.
import { fork, type ChildProcess } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import type { RunningServer } from '@gpufleet/server';

/** What a result file says about the machine, so figures are compared on like machines only. */
export function machineInfo(): { cpus: number; cpuModel: string; memoryGiB: number; node: string } {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

/** One decimal place. */
export function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A child process of simulated agents, forked with tsx, once every one of them holds a session. */
export interface AgentProcess {
  /** From the fork to the last session open. */
  connectSeconds: number;
  /** Asks the child to stop its agents, then makes sure it is gone. */
  stop(): Promise<void>;
  /** The child itself, for benchmarks that ask it for figures over IPC. */
  child: ChildProcess;
}

/**
 * Forks `script` (e.g. bench/gateway-agents.ts: server URL, join token, count, seed) and waits
 * until `agents` sessions are open on `server`, printing progress every 5 s. Throws when the
 * child dies or the agents take longer than `timeoutMs` (default 20 minutes).
 */
export async function forkAgents(
  server: Pick<RunningServer, 'context'>,
  script: string,
  args: string[],
  agents: number,
  timeoutMs = 20 * 60_000,
): Promise<AgentProcess> {
  const { gateway, registry } = server.context;
  const started = Date.now();
  const child = fork(script, args, { execArgv: ['--import', 'tsx', '--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.connected) child.send({ stop: true });
    await Promise.race([done, sleep(30_000)]);
    child.kill('SIGKILL');
  };
  let lastPrint = Date.now();
  while (gateway.sessionCount < agents) {
    await sleep(500);
    if (Date.now() - lastPrint > 5000) {
      lastPrint = Date.now();
      console.log(`  connecting: ${gateway.sessionCount}/${agents} sessions, ${registry.size} enrolled (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
    if (child.exitCode !== null) throw new Error(`agent process exited with code ${child.exitCode}`);
    if (Date.now() - started > timeoutMs) {
      await stop();
      throw new Error(`agents did not all connect within ${timeoutMs / 60_000} minutes (${gateway.sessionCount}/${agents})`);
    }
  }
  return { connectSeconds: (Date.now() - started) / 1000, stop, child };
}

/** The p-th percentile (nearest rank) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
