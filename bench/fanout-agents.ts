// Child process of the fanout benchmark: N simulated hosts running the real agent (link, outbox,
// signature and capability checks, command handler). With exec mode `sim` each host "runs"
// `echo ARGS` in-process (it answers like echo without a process: 10,000 simulated hosts on one
// small machine cannot each fork); with `real` every host spawns the real command.
import { startSimFleet } from '@gpufleet/sim';

const [url, token, count, seed, execMode] = process.argv.slice(2);

/** The shape of the agent's CommandRunnerLike (packages/agent/src/exec/command-runner.ts). */
interface RunRequest {
  command:
    | { kind: 'argv'; argv: readonly string[] }
    | { kind: 'shell'; script: string }
    | { kind: 'script'; name: string; content: string; args: readonly string[] };
}
interface RunHooks {
  onStart?: (pid: number | null) => void;
  onOutput: (chunk: { stream: 'stdout' | 'stderr'; chunk: number; data: string }) => void;
}

let pid = 100_000;
/** Answers `echo ...` the way echo would; anything else exits 127 as a shell would. */
const echoRunner = {
  start(request: RunRequest, hooks: RunHooks) {
    const started = performance.now();
    const done = new Promise((resolve) => {
      queueMicrotask(() => {
        hooks.onStart?.(pid++);
        const c = request.command;
        const echo = c.kind === 'argv' && c.argv[0] === 'echo';
        const text = echo ? `${c.argv.slice(1).join(' ')}\n` : `${c.kind === 'argv' ? c.argv[0] : c.kind}: not simulated\n`;
        hooks.onOutput({ stream: echo ? 'stdout' : 'stderr', chunk: 0, data: text });
        resolve({
          exitCode: echo ? 0 : 127,
          signal: null,
          timedOut: false,
          canceled: false,
          durationMs: Math.round(performance.now() - started),
          outputBytes: Buffer.byteLength(text),
          truncated: false,
        });
      });
    });
    return { done, cancel() {} };
  },
};

const fleet = await startSimFleet({
  serverUrl: url!,
  token: token!,
  count: Number(count),
  seed: Number(seed),
  agentVersion: 'bench',
  concurrency: 100,
  // `exec` is an AgentOptions field the fleet passes through to every Agent as it is.
  agentOptions: (execMode === 'real' ? {} : { exec: { runner: echoRunner } }) as never,
});
await fleet.started;
process.send!({ ready: true });
// A benchmark that dies (Ctrl-C, a crash) closes the IPC channel: go with it, never linger as an orphan.
process.on('disconnect', () => process.exit(0));
process.on('message', async (msg: { stop?: boolean }) => {
  if (msg.stop) {
    await fleet.stop();
    process.exit(0);
  }
});
