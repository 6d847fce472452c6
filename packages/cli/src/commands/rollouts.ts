import { Command } from 'commander';
import { ROLLOUT_ID, releaseRefText, type ReleaseList, type RolloutDetail, type RolloutEventList, type RolloutList } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { checkSelector } from '../args.js';
import { UsageError } from '../errors.js';
import { readCapabilityFile } from '../exec/build-payload.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';
import { print, renderTable, termSafe } from '../output.js';
import { parsePlan, parseRelease, publishedTarget, signRolloutPlan, type RolloutFlags } from '../rollouts/rollout-sign.js';
import { renderRolloutDetail, rolloutColumns, rolloutEventColumns } from '../rollouts/rollout-views.js';

interface StartFlags extends RolloutFlags, KeyFlags {
  cap?: string;
}

function rolloutId(text: string): string {
  if (!ROLLOUT_ID.test(text)) throw new UsageError(`'${text}' is not a rollout id (gpufleet rollouts ls shows them, e.g. ro-3f2a9c41d0e8b7a61c5d)`);
  return text;
}

/** `gpufleet rollouts`: signed releases brought to hosts in steps (issue 14). */
export function rolloutsCommand(deps: CliDeps, term?: HiddenInput): Command {
  const rollouts = new Command('rollouts').alias('rollout').description('bring a signed release to hosts: canary first, then waves, paused on failures');
  rollouts.addHelpText(
    'after',
    `
A rollout takes a published release (gpufleet releases ls) to the hosts a selector picks, in
steps: the canary hosts first, then waves, each a cumulative share of the rest. A step starts
once every host of the one before has been healthy for --healthy-for. More failed hosts than
--max-failures pauses the rollout, and the failed hosts roll back. Cordoned, draining and
offline hosts are skipped and listed; one that comes back later is brought to the release.

The rollout is signed here with your operator key, naming the release's exact sha256: hosts
check the signature, your capability (release/rollout) and the file before they install it.

Examples:
  gpufleet rollouts start agent@0.3.0 -l pool=inference --canary 2 --waves 10%,50%,100% \\
      --healthy-for 10m --max-failures 1
  gpufleet rollouts start inference@12 -l region=eu --key alice --cap alice.cap.json
  gpufleet rollouts ls
  gpufleet rollouts get ro-3f2a9c41d0e8b7a61c5d
  gpufleet rollouts events ro-3f2a9c41d0e8b7a61c5d
  gpufleet rollouts pause ro-3f2a9c41d0e8b7a61c5d --reason "looking at h7"
  gpufleet rollouts resume ro-3f2a9c41d0e8b7a61c5d
  gpufleet rollouts abort ro-3f2a9c41d0e8b7a61c5d --no-rollback`,
  );

  rollouts
    .command('start')
    .description('sign a rollout of a published release with your key and start it')
    .argument('<release>', 'the release: agent@VERSION or BUNDLE@VERSION (bundle:NAME@VERSION also works)')
    .option('-l, --selector <selector>', 'which hosts, e.g. pool=inference (default: every host your key may update)')
    .option('--canary <n>', 'hosts updated first, alone (0: no canary)', '1')
    .option('--waves <list>', 'cumulative shares of the other hosts, ascending, ending at 100%', '10%,50%,100%')
    .option('--healthy-for <duration>', 'how long every host of a step stays healthy before the next step starts', '5m')
    .option('--max-failures <n>', 'more failed hosts than this pauses the rollout and rolls them back', '0')
    .option('--key <name>', "operator key to sign with: a name, or a key file's path (default: default)")
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .option('--cap <file>', 'your capability granting release/rollout (from `caps grant --out`); not needed when your key is a fleet root')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet rollouts start agent@0.3.0 -l pool=inference --canary 2 --waves 10%,50%,100% --healthy-for 10m --max-failures 1
  gpufleet rollouts start inference@12 -l region=eu --waves 100% --healthy-for 2m
  gpufleet rollouts start agent@0.3.0 --key alice --cap alice.cap.json -o json`,
    )
    .action(async (releaseText: string, _opts, cmd: Command) => {
      const o = deps.opts<StartFlags>(cmd);
      // Everything that can be wrong locally is found before the key is unlocked.
      const release = parseRelease(releaseText);
      const plan = parsePlan(o);
      const selector = checkSelector(o.selector) ?? '';
      const capability = o.cap === undefined ? null : readCapabilityFile(o.cap, deps.io.cwd);
      const client = deps.client(cmd);
      const target = publishedTarget(await client.get<ReleaseList>('/api/v1/releases'), release);
      const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
      const rollout = signRolloutPlan({ release, target, selector, plan }, key, capability, deps.now(), o.cap);
      const d = await client.post<RolloutDetail>('/api/v1/rollouts', { rollout });
      const format = deps.format(cmd);
      if (format === 'json' || format === 'yaml') return print(deps.io, format, { data: d });
      deps.io.err(`rollout ${d.id} started: ${releaseRefText(release)} to ${d.hosts.length} hosts in ${d.steps.length} steps\n`);
      deps.io.out(`${d.id}\n`);
    });

  rollouts
    .command('ls')
    .alias('list')
    .description('list rollouts, newest first')
    .addHelpText('after', '\nExamples:\n  gpufleet rollouts ls\n  gpufleet rollouts ls -o wide\n  gpufleet rollouts ls -o json')
    .action(async (_o, cmd: Command) => {
      const list = await deps.client(cmd).get<RolloutList>('/api/v1/rollouts');
      print(deps.io, deps.format(cmd), { data: list, columns: rolloutColumns(deps.now()), rows: list.items, empty: 'no rollouts' });
    });

  rollouts
    .command('get')
    .description("show a rollout: its steps and every host's place")
    .argument('<id>', 'the rollout id (gpufleet rollouts ls)')
    .addHelpText('after', '\nExamples:\n  gpufleet rollouts get ro-3f2a9c41d0e8b7a61c5d\n  gpufleet rollouts get ro-3f2a9c41d0e8b7a61c5d -o yaml')
    .action(async (id: string, _o, cmd: Command) => {
      const d = await deps.client(cmd).get<RolloutDetail>(`/api/v1/rollouts/${seg(rolloutId(id))}`);
      const format = deps.format(cmd);
      print(deps.io, format, { data: d, text: (wide) => renderRolloutDetail(d, deps.now(), { width: deps.io.columns, wide }) });
    });

  rollouts
    .command('events')
    .description("show a rollout's history: step changes, host failures and returns, operators' actions")
    .argument('<id>', 'the rollout id (gpufleet rollouts ls)')
    .addHelpText('after', '\nExamples:\n  gpufleet rollouts events ro-3f2a9c41d0e8b7a61c5d\n  gpufleet rollouts events ro-3f2a9c41d0e8b7a61c5d -o json')
    .action(async (id: string, _o, cmd: Command) => {
      const list = await deps.client(cmd).get<RolloutEventList>(`/api/v1/rollouts/${seg(rolloutId(id))}/events`);
      print(deps.io, deps.format(cmd), { data: list, columns: rolloutEventColumns(deps.now()), rows: list.items, empty: 'no events' });
    });

  const action = (verb: 'pause' | 'resume' | 'abort', description: string, example: string) => {
    const c = rollouts
      .command(verb)
      .description(description)
      .argument('<id>', 'the rollout id (gpufleet rollouts ls)')
      .option('--reason <text>', 'why, for the rollout history and the audit log')
      .addHelpText('after', `\nExamples:\n  ${example}`);
    if (verb === 'abort') c.option('--no-rollback', 'leave hosts on the release they took (default: they roll back)');
    c.action(async (id: string, _o, cmd: Command) => {
      const o = deps.opts<{ reason?: string; rollback?: boolean }>(cmd);
      if (o.reason !== undefined && o.reason.length > 500) throw new UsageError('--reason is at most 500 characters');
      const body = { ...(o.reason !== undefined ? { reason: o.reason } : {}), ...(verb === 'abort' ? { rollback: o.rollback !== false } : {}) };
      const d = await deps.client(cmd).post<RolloutDetail>(`/api/v1/rollouts/${seg(rolloutId(id))}/${verb}`, body);
      const format = deps.format(cmd);
      if (format === 'json' || format === 'yaml') return print(deps.io, format, { data: d });
      deps.io.out(`rollout ${d.id} ${d.state}${d.message ? `: ${termSafe(d.message)}` : ''}\n`);
      deps.io.out(renderTable(rolloutColumns(deps.now()), [d], { width: deps.io.columns }));
    });
  };
  action(
    'pause',
    'pause a running rollout: no new step starts; hosts updating finish',
    'gpufleet rollouts pause ro-3f2a9c41d0e8b7a61c5d --reason "h7 looks slow"',
  );
  action('resume', 'resume a paused rollout (hosts that failed so far are accepted)', 'gpufleet rollouts resume ro-3f2a9c41d0e8b7a61c5d');
  action(
    'abort',
    'abort a rollout; hosts that took the release roll back unless --no-rollback',
    'gpufleet rollouts abort ro-3f2a9c41d0e8b7a61c5d --no-rollback',
  );
  return rollouts;
}
