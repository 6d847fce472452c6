// Child process of the end-to-end placement benchmark: N simulated hosts running the real agent
// (link, outbox, signed-job and placement checks, workload supervisor) with the simulator's fake
// executors, so an allocation "runs" without a container or a process: 1,000 hosts on one small
// machine cannot each start a real container. Arguments: server URL, join token, count, seed, GPUs.
import { startSimFleet } from '@gpufleet/sim';

const [url, token, count, seed, gpus] = process.argv.slice(2);

const fleet = await startSimFleet({
  serverUrl: url!,
  token: token!,
  count: Number(count),
  seed: Number(seed),
  gpuCount: Number(gpus),
  agentVersion: 'bench',
  concurrency: 100,
  workloads: { startDelayMs: { min: 5, max: 50 } },
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
