// Child process of the gateway benchmark: N simulated agents speaking the real protocol.
import { startSimFleet } from '@gpufleet/sim';

const [url, token, count, seed] = process.argv.slice(2);
const fleet = await startSimFleet({ serverUrl: url!, token: token!, count: Number(count), seed: Number(seed), agentVersion: 'bench', concurrency: 100 });
process.on('message', async (msg: { stop?: boolean }) => {
  if (msg.stop) {
    await fleet.stop();
    process.exit(0);
  }
});
