// Child process of the xid-to-cordon benchmark: N simulated hosts, each agent watching its own
// fake kernel log. The parent sends injection commands over IPC; this process writes the XID
// line into the host's log and answers with the time the write finished.
import { FaultInjector, startSimFleet } from '@gpufleet/sim';

const [url, token, count, seed, kernelDir] = process.argv.slice(2);

/** Wall-clock ms with sub-ms precision, comparable across the two processes of this machine. */
const preciseNow = () => performance.timeOrigin + performance.now();

const fleet = await startSimFleet({
  serverUrl: url!,
  token: token!,
  count: Number(count),
  seed: Number(seed),
  // NVIDIA hosts only: XIDs are NVIDIA driver events.
  mix: { H100: 2, A100: 1, L40S: 1 },
  agentVersion: 'bench',
  concurrency: 100,
  kernelLog: { dir: kernelDir! },
});
await fleet.started;
const injector = new FaultInjector({ fleet, seed: Number(seed) });
process.send!({ ready: true, hosts: fleet.agents.map((h) => ({ hostname: h.hostname, nodeId: h.nodeId, gpus: h.backend.gpuIds() })) });

// A benchmark that dies (Ctrl-C, a crash) closes the IPC channel: go with it, never linger as an orphan.
process.on('disconnect', () => process.exit(0));
process.on('message', async (msg: { inject?: { id: number; host: string; gpu: number; code: number }; stop?: boolean }) => {
  if (msg.inject) {
    const { id, host, gpu, code } = msg.inject;
    try {
      const r = injector.xid(host, gpu, code);
      process.send!({ injected: id, writtenAt: preciseNow(), line: r.lines[0] });
    } catch (err) {
      process.send!({ injected: id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  if (msg.stop) {
    await fleet.stop();
    process.exit(0);
  }
});
