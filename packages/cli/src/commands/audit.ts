import { Command } from 'commander';
import type { AuditRecord } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { checkDuration, intOption } from '../args.js';
import { print, type Column } from '../output.js';
import { relativeTime } from '../units.js';

export function auditColumns(now: number): Column<AuditRecord>[] {
  return [
    { header: 'WHEN', get: (r) => relativeTime(r.at, now) },
    { header: 'ACTOR', get: (r) => r.actor },
    { header: 'ACTION', get: (r) => r.action },
    { header: 'TARGET', get: (r) => r.target ?? '-' },
    { header: 'RESULT', get: (r) => r.result },
    { header: 'AT', get: (r) => r.at, wide: true },
    { header: 'DETAILS', get: (r) => (r.details === null || r.details === undefined ? '-' : JSON.stringify(r.details)), wide: true },
  ];
}

export function auditCommand(deps: CliDeps): Command {
  return new Command('audit')
    .description('show the audit log (who did what, newest first)')
    .option('--since <duration>', 'only entries newer than this, e.g. 1h or 7d')
    .option('--actor <name>', 'only entries by this actor (token name, node, system)')
    .option('--action <action>', 'only this action, e.g. node.cordon')
    .option('--limit <n>', 'at most this many entries', intOption('--limit', 1, 10_000), 100)
    .addHelpText(
      'after',
      `
Examples:
  gpufleet audit --since 1h
  gpufleet audit --actor bootstrap-admin -o wide
  gpufleet audit --action node.remove -o json`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ since?: string; actor?: string; action?: string; limit: number }>(cmd);
      const query = { since: o.since === undefined ? undefined : checkDuration(o.since, '--since'), actor: o.actor, action: o.action, limit: o.limit };
      const result = await deps.client(cmd).get<{ items: AuditRecord[] }>('/api/v1/audit', query);
      print(deps.io, deps.format(cmd), { data: result, columns: auditColumns(deps.now()), rows: result.items, empty: 'no audit entries match' });
    });
}
