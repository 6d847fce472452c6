import type { ScenarioResult } from './runner.js';

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * The per-assertion report `gpufleet sim run` prints: what was injected and when, then each
 * assertion with PASS or FAIL, its line in the file, and what the API showed.
 */
export function formatScenarioReport(r: ScenarioResult): string {
  const out: string[] = [];
  out.push(`scenario ${r.name} (${r.source})`);
  const hosts = r.hosts.length > 4 ? `${r.hosts.slice(0, 4).join(', ')}, ...` : r.hosts.join(', ');
  const pools = r.poolHosts.length > 0 ? `; pools: ${r.poolHosts.length} host${r.poolHosts.length === 1 ? '' : 's'} at min_nodes` : '';
  out.push(`  fleet: ${r.hosts.length} host${r.hosts.length === 1 ? '' : 's'} (${hosts})${pools}; set up in ${secs(r.setupMs)}`);
  if (r.events.length > 0) {
    out.push('  events:');
    for (const e of r.events) {
      const when = e.ranAtMs === null ? '   not run' : `+${secs(e.ranAtMs).padStart(8)}`;
      out.push(`    ${when}  ${e.ok ? 'ok    ' : 'FAILED'}  ${e.line === null ? '' : `line ${e.line}: `}${e.text}${e.ok ? '' : `: ${e.detail}`}`);
    }
  }
  out.push('  assertions:');
  for (const a of r.assertions) {
    const took =
      a.settledAtMs >= 0
        ? ` [${a.kind === 'expect' && a.passed ? `after ${secs(Math.max(0, a.settledAtMs - a.startMs))}` : `at +${secs(a.settledAtMs)}`}]`
        : '';
    out.push(`    ${a.passed ? 'PASS' : 'FAIL'}  ${a.line === null ? '' : `line ${a.line}: `}${a.text}${took}`);
    out.push(`          ${a.seen}`);
  }
  if (r.error) out.push(`  error: ${r.error}`);
  if (r.dataDir) out.push(`  data kept in ${r.dataDir}`);
  const passed = r.assertions.filter((a) => a.passed).length;
  out.push(`  result: ${r.passed ? 'PASS' : 'FAIL'} (${passed} of ${r.assertions.length} assertions passed) in ${secs(r.setupMs + r.runMs)}`);
  return `${out.join('\n')}\n`;
}
