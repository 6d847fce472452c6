import { Command } from 'commander';
import { PLAY_STATES, type PlayEventView, type PlayPlanView, type PlayView, type SignedCommand, type StartPlayRequest } from '@gpufleet/protocol';
import { seg } from '../api-client.js';
import type { CliDeps } from '../command-deps.js';
import { resolveConnection, type ConnectionFlags } from '../connection.js';
import { CliError, UsageError } from '../errors.js';
import { readCapabilityFile } from '../exec/build-payload.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';
import { signAgentParts } from '../plays/sign-agent-parts.js';
import { print, renderData } from '../output.js';
import { endLine, eventLine, playColumns, renderHostStats, renderPlay } from '../views/play-views.js';
import { followPlay } from './play-follow.js';
import { checkDuration, checkMaxFail, checkSerial, checkTemplateName, checkVersion, collect, parseVarFlags } from './play-flags.js';

const MAX_REASON = 500;

function checkPlayId(id: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new UsageError(`'${id}' is not a play id (see gpufleet plays ls)`);
  return id;
}

function checkLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 1000) throw new UsageError(`--limit '${text}' must be a whole number from 1 to 1000`);
  return Number(text);
}

/** `gpufleet plays run|ls|get|logs|cancel`: runs of a template with ansible-playbook on SSH hosts. */
export function playsCommand(deps: CliDeps, term?: HiddenInput): Command {
  const plays = new Command('plays')
    .alias('play')
    .description('run playbook templates with Ansible on SSH and agent hosts (a play is one run of a playbook), with live logs and per-host results');
  plays.addHelpText(
    'after',
    `
A play runs ansible-playbook on the server against the SSH hosts a selector picks, with each
host's pinned key (a changed key makes it unreachable), its stored login and its layered
variables (global < groups < node < -e). On each agent host it picks, the host runs the same
playbook against itself (ansible-playbook -c local, which needs ansible on that host) as a
command signed here with your operator key: the host checks the signature and your capability
(exec/run) before it runs anything, as for gpufleet exec.

Examples:
  gpufleet plays run connectivity_check -l group=gpu_nodes
  gpufleet plays run install_nvidia_driver -l zone=us-east --serial 25% --max-fail 10 -e nvidia_driver_version=550
  gpufleet plays run deploy_node_exporter -l group=all_ssh --check          what would change, nothing changed
  gpufleet plays ls
  gpufleet plays logs play_3f9a... -f
  gpufleet plays cancel play_3f9a...`,
  );

  plays
    .command('run')
    .description('start a play and follow its log (Ctrl-C asks the server to cancel it; a second Ctrl-C stops following)')
    .argument('<template>', 'template name (gpufleet templates ls)')
    .requiredOption('-l, --selector <selector>', 'which hosts: a label selector; group=NAME picks a group')
    .option('--version <n>', 'template version (default: the newest)')
    .option('--serial <n|pct>', 'rolling batches: a number of hosts (5) or a share (25%)')
    .option('--max-fail <pct>', 'stop once more than this share of a batch failed (0-100)')
    .option('-e, --extra-var <k=v>', 'a variable that wins over every other (repeatable; values read as YAML scalars)', collect)
    .option('--check', "Ansible's check mode: report what would change, change nothing", false)
    .option('--timeout <duration>', "how long it may run (default: the template's)")
    .option('--reason <text>', 'why (kept with the play and in the audit log)')
    .option('--detach', 'print the play id and return at once', false)
    .option('--key <name>', "operator key that signs the agent hosts' parts: a name, or a key file's path (default: default)")
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .option('--cap <file>', 'your capability (exec/run on those hosts); not needed when your key is a fleet root')
    .option('--ssh-only', 'leave the agent hosts out (nothing is signed)', false)
    .addHelpText(
      'after',
      `
Exit status: 0 only when the play SUCCEEDED; 1 when it FAILED or was CANCELED; 130 when you stop
following it (the play goes on).

Agent hosts need ansible installed on them; their output streams into the same log.

Examples:
  gpufleet plays run collect_facts -l group=new_hosts
  gpufleet plays run deploy_node_exporter -l group=all_gpu --key alice --cap alice.cap.json
  gpufleet plays run install_nvidia_driver -l gpu=none --serial 1 --max-fail 0 --reason "new rack"
  gpufleet plays run connectivity_check -l zone=b --detach`,
    )
    .action(async (template: string, _opts, cmd: Command) => {
      const o = deps.opts<
        ConnectionFlags &
          KeyFlags & {
            cap?: string;
            sshOnly: boolean;
            selector: string;
            version?: string;
            serial?: string;
            maxFail?: string;
            extraVar?: string[];
            check: boolean;
            timeout?: string;
            reason?: string;
            detach: boolean;
          }
      >(cmd);
      const selector = o.selector.trim();
      if (selector === '' || selector.length > 1000) throw new UsageError('-l/--selector must say which hosts (1 to 1000 characters)');
      if (o.reason !== undefined && o.reason.length > MAX_REASON) throw new UsageError(`--reason is at most ${MAX_REASON} characters`);
      const version = checkVersion(o.version);
      const serial = checkSerial(o.serial);
      const maxFailPercentage = checkMaxFail(o.maxFail);
      const timeout = checkDuration('--timeout', o.timeout);
      const extraVars = parseVarFlags('-e', o.extraVar);
      const body: StartPlayRequest = {
        template: checkTemplateName(template),
        selector,
        check: o.check,
        ...(version === undefined ? {} : { version }),
        ...(serial === undefined ? {} : { serial }),
        ...(maxFailPercentage === undefined ? {} : { maxFailPercentage }),
        ...(extraVars === undefined ? {} : { extraVars }),
        ...(timeout === undefined ? {} : { timeout }),
        ...(o.reason === undefined ? {} : { reason: o.reason }),
      };
      const client = deps.client(cmd);
      const format = deps.format(cmd);
      const capability = o.cap === undefined ? null : readCapabilityFile(o.cap, deps.io.cwd);
      const plan = await client.post<PlayPlanView>('/api/v1/plays/plan', body);
      let agentCommands: SignedCommand[] | undefined;
      if (plan.agents.length > 0 && !o.sshOnly) {
        const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term).catch((err: Error) => {
          throw new UsageError(
            `${err.message}\nthe selector picks ${plan.agents.length} agent host(s), whose parts are signed with your operator key: pass --key, or --ssh-only to leave them out`,
          );
        });
        if (capability && capability.aud !== key.did) throw new UsageError(`--cap ${o.cap} was granted to ${capability.aud}, not to your key ${key.did}`);
        agentCommands = signAgentParts(plan, key, capability, deps.now());
        for (const note of plan.agents.flatMap((a) => a.notes)) deps.io.err(`note: ${note}\n`);
        deps.io.err(
          `signed the part of ${agentCommands.length} agent host(s) with ${key.did.slice(0, 24)}… (playbook sha256 ${plan.template.sha256.slice(0, 12)}…)\n`,
        );
      }
      const started = await client.post<PlayView>('/api/v1/plays', { ...body, ...(agentCommands === undefined ? {} : { agentCommands }) });
      if (o.detach) {
        print(deps.io, format, { data: started, text: () => `${started.id}\n` });
        return;
      }
      const json = format === 'json' || format === 'yaml';
      deps.io.err(
        `play ${started.id}: ${started.template}@${started.templateVersion} on ${started.hosts.length} host(s)${started.check ? ' (check mode)' : ''}\n`,
      );
      const conn = resolveConnection({ server: o.server, token: o.token, context: o.context }, deps.io);
      const following = followPlay({ io: deps.io, conn, client }, started.id, { json, hosts: started.hosts, progress: !json });
      let interrupts = 0;
      const stop = deps.io.onInterrupt(() => {
        interrupts++;
        if (interrupts === 1) {
          deps.io.err(`canceling play ${started.id} (Ctrl-C again to stop following)\n`);
          client.post(`/api/v1/plays/${seg(started.id)}/cancel`).catch((err: Error) => deps.io.err(`cancel failed: ${err.message}\n`));
        } else following.detach();
      });
      let end: PlayView;
      try {
        end = await following.result;
      } finally {
        stop();
      }
      if (json) deps.io.out(`${JSON.stringify(end)}\n`);
      else deps.io.out(`\n${renderHostStats(end.hosts, deps.io.columns)}`);
      if (end.state !== 'SUCCEEDED') throw new CliError(endLine(end).trimEnd());
      deps.io.err(endLine(end));
    });

  plays
    .command('ls')
    .alias('list')
    .description('list plays, newest first')
    .option('--state <state>', `only plays in this state (${PLAY_STATES.join(', ')})`)
    .option('--limit <n>', 'at most this many (default 100)')
    .addHelpText(
      'after',
      '\nExamples:\n  gpufleet plays ls\n  gpufleet plays ls --state RUNNING -o wide\n  gpufleet plays ls -o json | jq -r \'.items[] | select(.state=="FAILED") | .id\'',
    )
    .action(async (opts: { state?: string; limit?: string }, cmd: Command) => {
      const state = opts.state?.toUpperCase();
      if (state !== undefined && !(PLAY_STATES as readonly string[]).includes(state))
        throw new UsageError(`--state '${opts.state}' is not one of ${PLAY_STATES.join(', ')}`);
      const limit = checkLimit(opts.limit);
      const result = await deps.client(cmd).get<{ items: PlayView[] }>('/api/v1/plays', { state, limit });
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: playColumns(deps.now()),
        rows: result.items,
        empty: 'no plays yet (run one: gpufleet plays run TEMPLATE -l SELECTOR)',
      });
    });

  plays
    .command('get')
    .alias('show')
    .description("one play: its template, selector, state and each host's counts")
    .argument('<id>', 'play id')
    .addHelpText('after', '\nExamples:\n  gpufleet plays get play_3f9a...\n  gpufleet plays get play_3f9a... -o yaml')
    .action(async (id: string, _opts, cmd: Command) => {
      const play = await deps.client(cmd).get<PlayView>(`/api/v1/plays/${seg(checkPlayId(id))}`);
      print(deps.io, deps.format(cmd), { data: play, text: () => renderPlay(play, deps.now(), deps.io.columns) });
    });

  plays
    .command('logs')
    .description("a play's log: tasks, each host's result, the recap; -f follows a running play to its end")
    .argument('<id>', 'play id')
    .option('-f, --follow', 'follow until the play ends (Ctrl-C stops following; the play goes on)', false)
    .addHelpText(
      'after',
      '\nExamples:\n  gpufleet plays logs play_3f9a...\n  gpufleet plays logs play_3f9a... -f\n  gpufleet plays logs play_3f9a... -o json | jq -r \'select(.status=="failed") | .host\'',
    )
    .action(async (id: string, opts: { follow: boolean }, cmd: Command) => {
      const client = deps.client(cmd);
      const format = deps.format(cmd);
      const json = format === 'json' || format === 'yaml';
      const play = await client.get<PlayView>(`/api/v1/plays/${seg(checkPlayId(id))}`);
      if (opts.follow) {
        const o = deps.opts<ConnectionFlags>(cmd);
        const conn = resolveConnection({ server: o.server, token: o.token, context: o.context }, deps.io);
        const following = followPlay({ io: deps.io, conn, client }, play.id, { json, hosts: play.hosts, progress: false });
        const stop = deps.io.onInterrupt(() => following.detach());
        try {
          const end = await following.result;
          if (!json) deps.io.err(endLine(end));
        } finally {
          stop();
        }
        return;
      }
      for (let after = 0; ; ) {
        const page = await client.get<{ items: PlayEventView[]; next: number }>(`/api/v1/plays/${seg(play.id)}/events`, { after, limit: 1000 });
        for (const e of page.items) deps.io.out(json ? (format === 'yaml' ? `---\n${renderData(e, 'yaml')}` : `${JSON.stringify(e)}\n`) : eventLine(e));
        if (page.items.length < 1000) break;
        after = page.next;
      }
    });

  plays
    .command('cancel')
    .description('cancel a play: a pending one at once, a running one is interrupted (killed after 10 s)')
    .argument('<id>', 'play id')
    .addHelpText('after', '\nExamples:\n  gpufleet plays cancel play_3f9a...')
    .action(async (id: string, _opts, cmd: Command) => {
      const play = await deps.client(cmd).post<PlayView>(`/api/v1/plays/${seg(checkPlayId(id))}/cancel`);
      print(deps.io, deps.format(cmd), { data: play, text: () => endLine(play) });
    });

  return plays;
}
