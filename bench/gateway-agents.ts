// Child process of the gateway benchmark: N simulated agents speaking the real protocol.
import { startSimFleet } from '@gpufleet/sim';

const [url, token, count, seed] = process.argv.slice(2);
const fleet = await startSimFleet({ serverUrl: url!, token: token!, count: Number(count), seed: Number(seed), agentVersion: 'bench', concurrency: 100 });
// A benchmark that dies (Ctrl-C, a crash) closes the IPC channel: go with it, never linger as an orphan.
process.on('disconnect', () => process.exit(0));
process.on('message', async (msg: { stop?: boolean }) => {
  if (msg.stop) {
    await fleet.stop();
    process.exit(0);
  }
});
