import { Command } from 'commander';
import type { AuditRecord } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { checkDuration, intOption } from '../args.js';
import { print, type Column } from '../output.js';
import { CliError } from '../errors.js';
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

/** GET /api/v1/audit/verify. */
interface AuditVerifyReply {
  ok: boolean;
  checked: number;
  legacy: number;
  firstBroken?: { id: number; reason: string };
  /** The control plane's signed checkpoint of the chain head (servers from before it send none). */
  checkpoint?: { status: string; id?: number; at?: number; unsigned?: number; first?: { at: number; id: number }; legacyUntil?: number; reason?: string };
}

/**
 * `; head signed at record 12 (2 newer not yet signed); first signed 2026-03-01T12:00:00.000Z at
 * record 9: records up to it were trusted unsigned`, or nothing from an older server. The first
 * signature is shown because a chain whose checkpoint was removed is re-signed at the next start
 * (trust on first use): a first signature newer than expected is the trace of that.
 */
function checkpointText(c: AuditVerifyReply['checkpoint']): string {
  if (c?.status !== 'ok' || c.id === undefined) return '';
  const newer = c.unsigned ? ` (${c.unsigned} newer not yet signed)` : '';
  const head = c.id === 0 ? `; empty chain signed${newer}` : `; head signed at record ${c.id}${newer}`;
  if (!c.first || !Number.isFinite(c.first.at)) return head;
  const when = new Date(c.first.at).toISOString();
  return `${head}; first signed ${when}${c.first.id > 0 ? ` at record ${c.first.id}: records up to it were trusted unsigned` : ''}`;
}

/** The filters of `audit` and `audit ls`. */
function listOptions(cmd: Command): Command {
  return cmd
    .option('--since <duration>', 'only entries newer than this, e.g. 1h or 7d')
    .option('--actor <name>', 'only entries by this actor (token name, node, system)')
    .option('--action <action>', 'only this action, e.g. node.cordon')
    .option('--limit <n>', 'at most this many entries', intOption('--limit', 1, 10_000), 100);
}

export function auditCommand(deps: CliDeps): Command {
  const list = async (_opts: unknown, cmd: Command) => {
    const o = deps.opts<{ since?: string; actor?: string; action?: string; limit: number }>(cmd);
    const query = { since: o.since === undefined ? undefined : checkDuration(o.since, '--since'), actor: o.actor, action: o.action, limit: o.limit };
    const result = await deps.client(cmd).get<{ items: AuditRecord[] }>('/api/v1/audit', query);
    print(deps.io, deps.format(cmd), { data: result, columns: auditColumns(deps.now()), rows: result.items, empty: 'no audit entries match' });
  };
  const audit = listOptions(new Command('audit'))
    .description('show the audit log (who did what, newest first), or check its hash chain')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet audit --since 1h
  gpufleet audit ls --actor bootstrap-admin -o wide
  gpufleet audit --action node.remove -o json
  gpufleet audit verify`,
    )
    .action(list);

  listOptions(audit.command('ls').alias('list').description('show the audit log, newest first (same as plain `audit`)'))
    .addHelpText(
      'after',
      `
Examples:
  gpufleet audit ls --since 24h --actor 'token:ops(3f2a9c01)'
  gpufleet audit ls --action script.add -o json`,
    )
    .action(list);

  audit
    .command('verify')
    .description('check the hash chain of the audit log; exits 1 and names the first broken record')
    .addHelpText(
      'after',
      `
Each record carries the hash of the one before it, so an edited, removed or reordered record
breaks the chain from there on. The control plane signs the chain's head about a second after
each write, so a chain rewritten with recomputed hashes, or cut short at the end, no longer
matches that signature. Records written before the chain existed are counted as legacy; the
signature covers them and their boundary too. A missing checkpoint fails the check. The output
says when the chain was first signed: what came before that was trusted on first use.

Examples:
  gpufleet audit verify
  gpufleet audit verify -o json`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const r = await deps.client(cmd).get<AuditVerifyReply>('/api/v1/audit/verify');
      if (typeof r?.ok !== 'boolean') throw new CliError('the control plane sent an audit verification this CLI does not understand');
      const legacy = r.legacy > 0 ? ` (${r.legacy} older record${r.legacy === 1 ? '' : 's'} predate the chain)` : '';
      if (r.ok) {
        print(deps.io, deps.format(cmd), {
          data: r,
          text: () => `audit chain intact: ${r.checked} record${r.checked === 1 ? '' : 's'} checked${legacy}${checkpointText(r.checkpoint)}\n`,
        });
        return;
      }
      const format = deps.format(cmd);
      if (format === 'json' || format === 'yaml') print(deps.io, format, { data: r });
      const broken = r.firstBroken;
      if (!broken && r.checkpoint && r.checkpoint.status !== 'ok') {
        throw new CliError(
          `audit chain does not match its signed checkpoint (${r.checkpoint.status}): ${r.checkpoint.reason ?? 'no reason given'} (${r.checked} checked)`,
        );
      }
      throw new CliError(`audit chain broken at record ${broken?.id ?? '?'}: ${broken?.reason ?? 'no reason given'} (${r.checked} checked)`);
    });
  return audit;
}
