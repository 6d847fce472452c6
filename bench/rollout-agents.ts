// Child process of the rollout benchmark: N simulated hosts running the real agent (link, outbox)
// whose updates are the simulator's: each host reports verifying, installing and healthy, and
// fetches what a real host fetches from the TUF repository over HTTPS (timestamp, snapshot,
// targets, the target), trusting only the server's CA. Answers {stats} with the bytes fetched.
import { readFileSync } from 'node:fs';
import { startSimFleet } from '@gpufleet/sim';

const [url, token, count, seed, caFile, stepMs] = process.argv.slice(2);
const caPem = caFile ? readFileSync(caFile, 'utf8') : null;

const fleet = await startSimFleet({
  serverUrl: url!,
  token: token!,
  count: Number(count),
  seed: Number(seed),
  gpuCount: 1,
  agentVersion: 'bench',
  concurrency: 100,
  workloads: false,
  updates: { stepMs: Number(stepMs), tuf: { url: url!, caPem } },
});
await fleet.started;
process.send!({ ready: true });
// A benchmark that dies (Ctrl-C, a crash) closes the IPC channel: go with it, never linger as an orphan.
process.on('disconnect', () => process.exit(0));
process.on('message', async (msg: { stop?: boolean; stats?: boolean }) => {
  if (msg.stats) process.send!({ bytesFetched: fleet.updates!.bytesFetched, fetchErrors: fleet.updates!.fetchErrors });
  if (msg.stop) {
    await fleet.stop();
    process.exit(0);
  }
});
