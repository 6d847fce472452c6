import { join } from 'node:path';

/** This machine's real agent running inside the CLI process (for `gpufleet demo`). */
export interface LocalAgent {
  nodeId: string;
  /** True when this start enrolled the machine (false: it had joined on an earlier run). */
  joined: boolean;
  gpuCount: number;
  stop(): Promise<void>;
}

/**
 * Enrolls this machine (once; its key and state live in `<demoDataDir>/local-agent`) with the
 * real hardware backend and starts its agent in-process, so shutdown order stays ours.
 * A machine that joined an earlier demo on the same server just reconnects.
 */
export async function startLocalAgent(opts: { demoDataDir: string; serverUrl: string; joinToken: string; agentVersion: string }): Promise<LocalAgent> {
  const agentPkg = await import('@gpufleet/agent');
  const dataDir = join(opts.demoDataDir, 'local-agent');
  const backend = new agentPkg.RealHardwareBackend({ agentVersion: opts.agentVersion });
  const state = new agentPkg.FileStateStore(dataDir);
  const existing = state.loadConfig();
  const identityBefore = agentPkg.loadIdentity(dataDir);
  let joined = false;
  // Join again when never joined, or when the saved state points at another server or key.
  if (!existing || !identityBefore || existing.serverUrl !== opts.serverUrl || existing.nodeId !== identityBefore.did) {
    await agentPkg.joinFleet({ token: opts.joinToken, dataDir, backend, agentVersion: opts.agentVersion });
    joined = true;
  }
  const identity = agentPkg.loadIdentity(dataDir);
  if (!identity) throw new Error(`the node key in ${dataDir} disappeared after the join`);
  const agent = new agentPkg.Agent({ state, identity, backend, agentVersion: opts.agentVersion, health: { kernelLog: { source: 'auto' } } });
  await agent.start();
  const gpuCount = (await backend.gpus().catch(() => ({ snapshots: [] }))).snapshots.length;
  return {
    nodeId: identity.did,
    joined,
    gpuCount,
    stop: async () => {
      await agent.stop();
    },
  };
}
