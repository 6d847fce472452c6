import { Command, Option } from 'commander';
import {
  ALERT_LIST_STATES,
  ALERT_SEVERITIES,
  type AlertRuleView,
  type AlertTransition,
  type AlertView,
  type CreateSilenceRequest,
  type ReceiverView,
  type SilenceMatcher,
  type SilenceView,
} from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { checkDuration, collect, intOption } from '../args.js';
import { UsageError } from '../errors.js';
import { print, renderTable, type Column } from '../output.js';
import { relativeTime } from '../units.js';
import { labelText } from '../views/node-facts.js';

export function alertColumns(now: number): Column<AlertView>[] {
  return [
    { header: 'STATE', get: (a) => (a.silenced ? `${a.state} (silenced)` : a.state) },
    { header: 'SEVERITY', get: (a) => a.severity },
    { header: 'RULE', get: (a) => a.rule },
    { header: 'NODE', get: (a) => a.hostname },
    { header: 'GPU', get: (a) => (a.gpuIndex !== null ? String(a.gpuIndex) : (a.gpu ?? '-')), align: 'right' },
    { header: 'SINCE', get: (a) => relativeTime(a.state === 'resolved' ? a.resolvedAt : (a.firedAt ?? a.activeAt), now) },
    { header: 'SUMMARY', get: (a) => a.summary },
    { header: 'ID', get: (a) => a.id, wide: true },
    { header: 'VALUE', get: (a) => (a.value === null ? '-' : String(a.value)), wide: true, align: 'right' },
    { header: 'SILENCED BY', get: (a) => a.silencedBy.join(',') || '-', wide: true },
    { header: 'LABELS', get: (a) => labelText(a.labels), wide: true },
  ];
}

export const ruleColumns: Column<AlertRuleView>[] = [
  { header: 'NAME', get: (r) => r.name },
  { header: 'KIND', get: (r) => r.kind },
  { header: 'SEVERITY', get: (r) => r.severity },
  { header: 'CONDITION', get: (r) => r.condition },
  { header: 'FOR', get: (r) => r.for },
  { header: 'FIRING', get: (r) => String(r.firing), align: 'right' },
  { header: 'PENDING', get: (r) => String(r.pending), align: 'right' },
  { header: 'RECEIVERS', get: (r) => r.receivers.join(',') || '-' },
  { header: 'SELECTOR', get: (r) => r.selector || '-', wide: true },
  { header: 'LABELS', get: (r) => labelText(r.labels) || '-', wide: true },
  { header: 'SUMMARY', get: (r) => r.summary, wide: true },
];

const receiverColumns: Column<ReceiverView>[] = [
  { header: 'RECEIVER', get: (r) => r.name },
  { header: 'TYPE', get: (r) => r.type },
  { header: 'TARGET', get: (r) => r.target },
  { header: 'SENT', get: (r) => String(r.sent), align: 'right' },
  { header: 'FAILED', get: (r) => String(r.failed), align: 'right' },
  { header: 'LAST ERROR', get: (r) => r.lastError ?? '-' },
];

export function silenceColumns(now: number): Column<SilenceView>[] {
  return [
    { header: 'ID', get: (s) => s.id },
    { header: 'STATE', get: (s) => s.state },
    { header: 'MATCHERS', get: (s) => s.matchers.map((m) => `${m.name}${m.op ?? '='}${m.value}`).join(',') },
    { header: 'ENDS', get: (s) => relativeTime(s.endsAt, now) },
    { header: 'BY', get: (s) => s.createdBy },
    { header: 'COMMENT', get: (s) => s.comment },
    { header: 'STARTED', get: (s) => relativeTime(s.startsAt, now), wide: true },
  ];
}

function historyColumns(now: number): Column<AlertTransition>[] {
  return [
    { header: 'WHEN', get: (h) => relativeTime(h.at, now) },
    { header: 'RULE', get: (h) => h.rule },
    { header: 'NODE', get: (h) => h.hostname },
    { header: 'GPU', get: (h) => h.gpu ?? '-' },
    { header: 'CHANGE', get: (h) => `${h.from} -> ${h.to}` },
    { header: 'VALUE', get: (h) => (h.value === null ? '-' : String(h.value)), align: 'right' },
    { header: 'AT', get: (h) => h.at, wide: true },
  ];
}

/** `name=value` or `name!=value` words of --matcher. */
export function parseMatcher(word: string): SilenceMatcher {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(!=|=)(.+)$/.exec(word.trim());
  if (!m)
    throw new UsageError(
      `--matcher '${word}' must be name=value or name!=value (names: alertname, node, hostname, gpu, UUID, pci_bus_id, modelName, severity or a rule label)`,
    );
  return { name: m[1]!, op: m[2] as '=' | '!=', value: m[3]! };
}

export function alertsCommand(deps: CliDeps): Command {
  const alerts = new Command('alerts').description('see alerts and alert rules, silence and unsilence them');
  alerts.addHelpText(
    'after',
    `
An alert is one rule for one node (or GPU): pending while its condition holds for less than the
rule's "for", then firing, then resolved. Silences keep alerts in their state but stop their
notifications. The rules come from a YAML file given to the server (\`--alert-rules\`).

Examples:
  gpufleet alerts ls
  gpufleet alerts ls --state firing --node gpu-node-07
  gpufleet alerts rules
  gpufleet alerts silence --rule GpuTemperatureHigh --node gpu-node-07 --duration 2h --comment "fan swap"
  gpufleet alerts silences
  gpufleet alerts unsilence sil_3f9a0c1d2e4b5a69`,
  );

  alerts
    .command('ls')
    .alias('list')
    .description('list alerts, firing first')
    .addOption(new Option('--state <state>', 'only this state').choices([...ALERT_LIST_STATES]))
    .option('--rule <name>', 'only alerts of this rule')
    .option('--node <ref>', 'only alerts of this node (id, id prefix or hostname)')
    .addOption(new Option('--severity <severity>', 'only this severity').choices([...ALERT_SEVERITIES]))
    .option('--limit <n>', 'at most this many', intOption('--limit', 1, 10_000), 1000)
    .addHelpText(
      'after',
      `
Examples:
  gpufleet alerts ls --state firing
  gpufleet alerts ls --state silenced -o wide      (with the silences that cover them)
  gpufleet alerts ls --rule NodeOffline -o json`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ state?: string; rule?: string; node?: string; severity?: string; limit: number }>(cmd);
      const result = await deps
        .client(cmd)
        .get<{ items: AlertView[]; total: number }>('/api/v1/alerts', { state: o.state, rule: o.rule, node: o.node, severity: o.severity, limit: o.limit });
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: alertColumns(deps.now()),
        rows: result.items,
        empty: o.state ? `no ${o.state} alerts` : 'no alerts',
      });
      if (result.total > result.items.length && deps.format(cmd) !== 'json' && deps.format(cmd) !== 'yaml')
        deps.io.err(`showing ${result.items.length} of ${result.total} alerts: use --limit to see more\n`);
    });

  alerts
    .command('rules')
    .description('list the alert rules with how many alerts each has, and the receivers')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet alerts rules
  gpufleet alerts rules -o wide      (selectors, labels and summary templates too)`,
    )
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<{ items: AlertRuleView[]; receivers: ReceiverView[] }>('/api/v1/alerts/rules');
      const format = deps.format(cmd);
      print(deps.io, format, { data: result, columns: ruleColumns, rows: result.items, empty: 'no alert rules' });
      if ((format === 'table' || format === 'wide') && result.receivers.length > 0) {
        deps.io.out(`\n${renderTable(receiverColumns, result.receivers, { width: deps.io.columns })}`);
      }
    });

  alerts
    .command('history')
    .description("recent alert state changes, newest first (kept in the server's memory)")
    .option('--rule <name>', 'only this rule')
    .option('--node <ref>', 'only this node')
    .option('--since <duration>', 'only changes newer than this, e.g. 1h')
    .option('--limit <n>', 'at most this many', intOption('--limit', 1, 10_000), 100)
    .addHelpText(
      'after',
      `
Examples:
  gpufleet alerts history --since 1h
  gpufleet alerts history --node gpu-node-07 -o json`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ rule?: string; node?: string; since?: string; limit: number }>(cmd);
      const query = { rule: o.rule, node: o.node, since: o.since === undefined ? undefined : checkDuration(o.since, '--since'), limit: o.limit };
      const result = await deps.client(cmd).get<{ items: AlertTransition[] }>('/api/v1/alerts/history', query);
      print(deps.io, deps.format(cmd), { data: result, columns: historyColumns(deps.now()), rows: result.items, empty: 'no alert state changes' });
    });

  alerts
    .command('silence')
    .description('stop notifications of matching alerts for a while (their state still shows)')
    .option('--rule <name>', 'alerts of this rule')
    .option('--node <ref>', 'alerts of this node (id, id prefix or hostname)')
    .option(
      '--matcher <name=value>',
      'any alert label, matched exactly: UUID=GPU-8c1e0e5b-... (the whole UUID), gpu=3 (the index), pci_bus_id=..., severity!=critical (repeatable)',
      collect,
      [],
    )
    .option('--duration <duration>', 'how long, e.g. 30m, 2h, 1d', '2h')
    .option('--until <time>', 'until this ISO 8601 time instead of --duration')
    .requiredOption('--comment <text>', 'why (shown to everyone who looks at the alert)')
    .addHelpText(
      'after',
      `
Give --rule, --node or --matcher (all given must match).

Examples:
  gpufleet alerts silence --node gpu-node-07 --duration 4h --comment "RMA in progress"
  gpufleet alerts silence --rule XidErrorsRepeating --matcher UUID=GPU-8c1e0e5b-1f3a-4c2d-9e7f-0a1b2c3d4e5f --comment "known bad app"`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ rule?: string; node?: string; matcher: string[]; duration: string; until?: string; comment: string }>(cmd);
      const matchers: SilenceMatcher[] = [
        ...(o.rule !== undefined ? [{ name: 'alertname', value: o.rule }] : []),
        ...(o.node !== undefined ? [{ name: 'node', value: o.node }] : []),
        ...o.matcher.map(parseMatcher),
      ];
      if (matchers.length === 0) throw new UsageError('say what to silence: --rule NAME, --node REF or --matcher name=value');
      if (o.comment.trim() === '') throw new UsageError('--comment must say why');
      const durationGiven = cmd.getOptionValueSource('duration') === 'cli';
      if (o.until !== undefined && durationGiven) throw new UsageError('give --duration or --until, not both');
      let timing: Pick<CreateSilenceRequest, 'duration' | 'endsAt'>;
      if (o.until !== undefined) {
        const at = Date.parse(o.until);
        if (!Number.isFinite(at) || !/^\d{4}-\d{2}-\d{2}T/.test(o.until))
          throw new UsageError(`--until '${o.until}' is not an ISO 8601 time such as 2025-06-01T18:00:00Z`);
        timing = { endsAt: new Date(at).toISOString() };
      } else {
        timing = { duration: checkDuration(o.duration, '--duration') };
      }
      const created = await deps.client(cmd).post<SilenceView>('/api/v1/silences', { matchers, ...timing, comment: o.comment } satisfies CreateSilenceRequest);
      print(deps.io, deps.format(cmd), {
        data: created,
        text: () => `silence ${created.id} created, ends ${relativeTime(created.endsAt, deps.now())} (${created.endsAt})\n`,
      });
    });

  alerts
    .command('silences')
    .description('list silences')
    .option('--all', 'also those that expired in the last 24 h')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet alerts silences
  gpufleet alerts silences --all -o wide`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ all?: boolean }>(cmd);
      const result = await deps.client(cmd).get<{ items: SilenceView[] }>('/api/v1/silences', { state: o.all ? 'all' : undefined });
      print(deps.io, deps.format(cmd), { data: result, columns: silenceColumns(deps.now()), rows: result.items, empty: 'no active silences' });
    });

  alerts
    .command('unsilence')
    .alias('expire')
    .description('end a silence now')
    .argument('<id>', 'silence id from `alerts silences`')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet alerts unsilence sil_3f9a0c1d2e4b5a69`,
    )
    .action(async (id: string, _opts, cmd: Command) => {
      await deps.client(cmd).delete(`/api/v1/silences/${seg(id)}`);
      deps.io.out(`silence ${id} expired\n`);
    });

  return alerts;
}
