import { Command } from 'commander';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { intOption } from '../args.js';
import { resolveConnection, type ConnectionFlags } from '../connection.js';
import { UsageError } from '../errors.js';
import { print, renderData, type Column } from '../output.js';
import { relativeTime } from '../units.js';
import { followRun } from '../exec/follow-run.js';
import { RunPrinter, formatDuration, renderSummary } from '../exec/run-printer.js';
import type { RunOutputChunk, RunView } from '../exec/run-types.js';
import { cancelTargetOf, signedCancelFor } from '../exec/sign-cancel.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';

const NOT_OK = ['failed', 'timed_out', 'unreachable', 'refused'] as const;

function countOf(r: RunView, states: readonly string[]): number {
  return states.reduce((n, s) => n + (r.counts[s as keyof RunView['counts']] ?? 0), 0);
}

function shortDid(did: string): string {
  return did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-6)}` : did;
}

export function runColumns(now: number): Column<RunView>[] {
  return [
    { header: 'ID', get: (r) => r.id },
    { header: 'STATE', get: (r) => r.state },
    { header: 'HOSTS', get: (r) => String(r.total), align: 'right' },
    { header: 'OK', get: (r) => String(countOf(r, ['succeeded'])), align: 'right' },
    { header: 'NOT OK', get: (r) => String(countOf(r, NOT_OK)), align: 'right' },
    { header: 'COMMAND', get: (r) => r.command.summary },
    { header: 'INVOKER', get: (r) => shortDid(r.invoker) },
    { header: 'CREATED', get: (r) => relativeTime(r.createdAt, now) },
    { header: 'SELECTOR', get: (r) => r.selector || '*', wide: true },
    { header: 'BY', get: (r) => r.createdBy, wide: true },
    { header: 'REASON', get: (r) => r.reason ?? '', wide: true },
  ];
}

/** The header block of `runs get`. */
function runDetail(r: RunView, now: number): string {
  const counts =
    Object.entries(r.counts)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ') || 'none';
  const lines = [
    `Run:         ${r.id}`,
    `State:       ${r.state}${r.reason ? ` (${r.reason})` : ''}`,
    `Command:     ${r.command.summary}`,
    `Selector:    ${r.selector || '*'}`,
    `Invoker:     ${r.invoker}`,
    `Capability:  ${r.capabilityId ?? 'none (the invoker is a fleet root)'}`,
    `Ability:     ${r.ability}`,
    `Submitted:   ${r.createdAt} (${relativeTime(r.createdAt, now)}) by ${r.createdBy}`,
    `Finished:    ${r.finishedAt ?? '-'}`,
    `Timeout:     ${formatDuration(r.command.timeoutMs)}${r.command.cwd ? `, cwd ${r.command.cwd}` : ''}${r.command.runAs ? `, as ${r.command.runAs}` : ''}${r.command.env.length ? `, env ${r.command.env.join(',')}` : ''}`,
    `Hosts:       ${r.total}: ${counts}`,
  ];
  if (r.canceledBy) lines.push(`Canceled by: ${r.canceledBy}`);
  return `${lines.join('\n')}\n\n`;
}

/** `gpufleet runs ls|get|logs|cancel`. */
export function runsCommand(deps: CliDeps, term?: HiddenInput): Command {
  const runs = new Command('runs').description('see command runs (gpufleet exec), their hosts and output; cancel one');
  runs.addHelpText(
    'after',
    `
Examples:
  gpufleet runs ls
  gpufleet runs get run_Xk3...
  gpufleet runs logs run_Xk3... --node gpu-node-07
  gpufleet runs logs run_Xk3... -f
  gpufleet runs cancel run_Xk3...
  gpufleet runs cancel run_Xk3... --sign`,
  );

  runs
    .command('ls')
    .alias('list')
    .description('list runs, newest first')
    .option('--limit <n>', 'at most this many', intOption('--limit', 1, 1000), 50)
    .option('--active', 'only runs still going')
    .addHelpText('after', `\nExamples:\n  gpufleet runs ls\n  gpufleet runs ls --active -o json`)
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ limit: number; active?: boolean }>(cmd);
      const result = await deps.client(cmd).get<{ items: RunView[] }>('/api/v1/runs', { limit: o.limit, active: o.active ? 'true' : undefined });
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: runColumns(deps.now()),
        rows: result.items,
        empty: o.active ? 'no runs are going' : 'no runs yet (start one with gpufleet exec)',
      });
    });

  runs
    .command('get')
    .description('one run: what ran, who signed it, and each host with its state, exit code and reason')
    .argument('<id>', 'run id')
    .addHelpText('after', `\nExamples:\n  gpufleet runs get run_Xk3...\n  gpufleet runs get run_Xk3... -o yaml`)
    .action(async (id: string, _opts, cmd: Command) => {
      const view = await deps.client(cmd).get<RunView>(`/api/v1/runs/${seg(id)}`);
      const format = deps.format(cmd);
      print(deps.io, format, { data: view, text: (wide) => runDetail(view, deps.now()) + renderSummary(view.targets ?? [], { width: deps.io.columns, wide }) });
    });

  runs
    .command('logs')
    .description("a run's output, each line with its host in front")
    .argument('<id>', 'run id')
    .option('--node <ref>', 'only this host (id, id prefix or hostname)')
    .option('-f, --follow', 'keep printing output until the run is over')
    .addHelpText('after', `\nExamples:\n  gpufleet runs logs run_Xk3... --node gpu-node-07\n  gpufleet runs logs run_Xk3... -f`)
    .action(async (id: string, _opts, cmd: Command) => {
      const o = deps.opts<{ node?: string; follow?: boolean } & ConnectionFlags>(cmd);
      const client = deps.client(cmd);
      const view = await client.get<RunView>(`/api/v1/runs/${seg(id)}`);
      let nodeId: string | undefined;
      if (o.node !== undefined) {
        const t =
          (view.targets ?? []).find((x) => x.nodeId === o.node || x.hostname === o.node) ??
          (view.targets ?? []).filter((x) => x.nodeId.startsWith(o.node!.startsWith('did:key:') ? o.node! : `did:key:${o.node}`))[0];
        if (!t) throw new UsageError(`host '${o.node}' is not one of the ${view.total} hosts of run ${view.id}`);
        nodeId = t.nodeId;
      }
      if (deps.format(cmd) === 'json' || deps.format(cmd) === 'yaml') {
        const items: unknown[] = [];
        for (let after: number | null = 0; after !== null; ) {
          const page: { items: unknown[]; next: number | null } = await client.get(`/api/v1/runs/${seg(id)}/output`, { node: nodeId, after, limit: 5000 });
          items.push(...page.items);
          after = page.next;
        }
        deps.io.out(renderData({ items }, deps.format(cmd) === 'yaml' ? 'yaml' : 'json'));
        return;
      }
      if (o.follow) {
        const conn = resolveConnection({ server: o.server, token: o.token, context: o.context }, deps.io);
        const following = followRun({ io: deps.io, conn, client, now: deps.now }, id, { progress: false, print: true, ...(nodeId ? { nodeId } : {}) });
        const stop = deps.io.onInterrupt(() => following.detach());
        try {
          await following.result;
        } finally {
          stop();
        }
        return;
      }
      const printer = new RunPrinter(deps.io, { progress: false, now: deps.now });
      printer.hostsAre(view.targets ?? []);
      let any = false;
      for (let after: number | null = 0; after !== null; ) {
        const page: { items: RunOutputChunk[]; next: number | null } = await client.get(`/api/v1/runs/${seg(id)}/output`, { node: nodeId, after, limit: 5000 });
        for (const chunk of page.items) printer.output(chunk);
        any ||= page.items.length > 0;
        after = page.next;
      }
      printer.finish();
      if (!any) deps.io.err(`no output${nodeId ? ' from that host' : ''} in run ${view.id}\n`);
    });

  runs
    .command('cancel')
    .description('cancel a run: hosts not started are skipped, running commands are killed')
    .argument('<id>', 'run id')
    .option(
      '--sign',
      'also sign the cancel with your key: hosts that have not run the command (offline ones too, when they reconnect) then refuse it for good, whatever a server sends later',
    )
    .option('--key <name>', "operator key for --sign (default: default); it must be the command's signer or a fleet root")
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .addHelpText('after', `\nExamples:\n  gpufleet runs cancel run_Xk3...\n  gpufleet runs cancel run_Xk3... --sign --key alice`)
    .action(async (id: string, _opts, cmd: Command) => {
      const o = deps.opts<KeyFlags & { sign?: boolean }>(cmd);
      if (!o.sign && (o.key !== undefined || o.passphraseEnv !== undefined)) throw new UsageError('--key and --passphrase-env go with --sign');
      let body: { signed: unknown } | undefined;
      if (o.sign) {
        const target = cancelTargetOf(await deps.client(cmd).get<RunView>(`/api/v1/runs/${seg(id)}`));
        const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
        body = { signed: signedCancelFor(target, key, deps.now()) };
      }
      const view = await deps.client(cmd).post<RunView>(`/api/v1/runs/${seg(id)}/cancel`, body);
      const format = deps.format(cmd);
      const stopping = (view.counts.sent ?? 0) + (view.counts.running ?? 0);
      print(deps.io, format, {
        data: view,
        text: () => `canceled run ${view.id}: ${view.counts.canceled ?? 0} hosts not started, ${stopping} still stopping\n`,
      });
    });

  return runs;
}
