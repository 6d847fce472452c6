import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UpdateStateData } from '@gpufleet/protocol';

/**
 * Reports made while no agent was running to send them: releases side-loaded by their own
 * process (`gpufleet-agent sideload --install` of a bundle, maybe with no server reachable), and
 * agent builds the launcher refused to start because their files changed since install
 * (startable-build.ts). Kept as JSON lines in the data dir until the agent starts, which puts
 * them in its outbox, so they reach the server when it next connects. A side-loaded agent build
 * reports through its pending-update record instead (the new build's self-check).
 */
const FILE = 'sideload-reports.jsonl';

export function keepSideloadReport(dataDir: string, data: UpdateStateData): void {
  appendFileSync(join(dataDir, FILE), `${JSON.stringify(data)}\n`, { mode: 0o600 });
}

/** Hands every kept report to `report` (lines that do not parse are dropped), then forgets them. */
export function takeSideloadReports(dataDir: string, report: (data: UpdateStateData) => void): number {
  const file = join(dataDir, FILE);
  if (!existsSync(file)) return 0;
  let n = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const parsed = UpdateStateData.safeParse(JSON.parse(line));
      if (!parsed.success) continue;
      report(parsed.data);
      n++;
    } catch {
      // A torn last line (the sideload was killed mid-write): nothing to report from it.
    }
  }
  // Only after the reports are in the outbox (which is on disk): a crash before this reports them twice, never never.
  rmSync(file, { force: true });
  return n;
}
