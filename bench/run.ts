// Benchmark entry point: `npm run bench -- <name> [flags]`.
import { runGatewayBench } from './gateway.js';
import { runXidToCordonBench } from './xid-to-cordon.js';
import { runFanoutBench } from './fanout.js';
import { runDashboardHeatmapBench } from './dashboard-heatmap.js';
import { runPlacementBench } from './placement.js';
import { runPoolsBench } from './pools.js';
import { runSshExecBench } from './ssh-exec.js';
import { runReplicasBench } from './replicas.js';
import { runReplicaFleetBench } from './replica-fleet.js';
import { runRolloutBench } from './rollout.js';

const [name, ...rest] = process.argv.slice(2);
const benches: Record<string, (argv: string[]) => Promise<void>> = {
  gateway: runGatewayBench,
  'xid-to-cordon': runXidToCordonBench,
  fanout: runFanoutBench,
  'dashboard-heatmap': runDashboardHeatmapBench,
  placement: runPlacementBench,
  pools: runPoolsBench,
  'ssh-exec': runSshExecBench,
  replicas: runReplicasBench,
  'replica-fleet': runReplicaFleetBench,
  rollout: runRolloutBench,
};

if (!name || !benches[name]) {
  console.error(
    `usage: npm run bench -- <${Object.keys(benches).join('|')}> [flags]\n  gateway --agents 1000 [--duration 60s] [--gpus 8] [--retention 1h]\n  xid-to-cordon [--hosts 1000] [--injections 100] [--interval 100ms] [--code 79]\n  fanout --agents 1000 [--runs 20] [--exec sim|real]\n  dashboard-heatmap [--agents 10000] [--live 60s] [--loads 3] [--updates 10] [--hovers 20] [--web-dist DIR] [--label NAME] [--profile]\n  placement --nodes 10000 --gpus 8 [--allocs 10000] [--batch 10] [--seed 1] [--phases binpack1,binpack4,spread1] [--e2e | --hosts 1000]\n  pools [--nodes 1000] [--fail-pct 5] [--window 10m] [--scale 20] [--boot 2m] [--replace-after 1m] [--parallel 20] [--seed 1]\n  ssh-exec [--hosts 50] [--rounds 3]\n  replicas --replicas 1,2,3 --agents 300 [--duration 30s] [--runs 5] [--gpus 8] [--heartbeat 5s] [--metrics-interval 10s]\n  replica-fleet --nodes 100000 [--gpus 8] [--metrics-interval 10s] [--duration 60s] [--relay batch|per-node] [--cpu-prof DIR]\n  rollout --hosts 1000 [--canary 0] [--waves 10,50,100] [--healthy-for 2s] [--bundle-kib 256] [--step 50ms] [--tls on|off]`,
  );
  process.exit(2);
}
benches[name]!(rest).catch((err) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
