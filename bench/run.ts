// Benchmark entry point: `npm run bench -- <name> [flags]`.
import { runGatewayBench } from './gateway.js';
import { runXidToCordonBench } from './xid-to-cordon.js';
import { runFanoutBench } from './fanout.js';
import { runDashboardHeatmapBench } from './dashboard-heatmap.js';

const [name, ...rest] = process.argv.slice(2);
const benches: Record<string, (argv: string[]) => Promise<void>> = {
  gateway: runGatewayBench,
  'xid-to-cordon': runXidToCordonBench,
  fanout: runFanoutBench,
  'dashboard-heatmap': runDashboardHeatmapBench,
};

if (!name || !benches[name]) {
  console.error(
    `usage: npm run bench -- <${Object.keys(benches).join('|')}> [flags]\n  gateway --agents 1000 [--duration 60s] [--gpus 8] [--retention 1h]\n  xid-to-cordon [--hosts 1000] [--injections 100] [--interval 100ms] [--code 79]\n  fanout --agents 1000 [--runs 20] [--exec sim|real]\n  dashboard-heatmap [--agents 10000] [--live 60s] [--loads 3] [--updates 10] [--hovers 20] [--web-dist DIR] [--label NAME] [--profile]`,
  );
  process.exit(2);
}
benches[name]!(rest).catch((err) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
