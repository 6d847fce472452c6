import { Command } from 'commander';
import { signCommand } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { collect, intOption } from '../args.js';
import { resolveConnection, type ConnectionFlags } from '../connection.js';
import { CliError, UsageError } from '../errors.js';
import { renderData } from '../output.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';
import { buildPayload, commandSpecOf, readCapabilityFile, parseCountOrPercent, parseEnvPairs, parseTimeout } from '../exec/build-payload.js';
import { followRun } from '../exec/follow-run.js';
import { renderSummary } from '../exec/run-printer.js';
import { signedCancelFor } from '../exec/sign-cancel.js';
import type { RunView, SubmittedRun } from '../exec/run-types.js';

/** Up to this many hosts the summary lists every host; beyond, only those that did not succeed. */
const SUMMARY_ALL_UP_TO = 50;

interface ExecFlags extends KeyFlags, ConnectionFlags {
  selector: string;
  timeout: string;
  env?: string[];
  cwd?: string;
  runAs?: string;
  maxParallel?: number;
  batchSize?: string;
  failureThreshold?: string;
  cap?: string;
  sh?: string;
  script?: string;
  arg?: string[];
  detach?: boolean;
  progress: boolean;
  output?: string;
}

/** `NAME` or `NAME@VERSION` of --script. */
function scriptRef(text: string): { name: string; version?: number } {
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,127})(?:@(\d{1,9}))?$/.exec(text.trim());
  if (!m) throw new UsageError(`--script '${text}' must be NAME or NAME@VERSION (see gpufleet scripts ls)`);
  return { name: m[1]!, ...(m[2] ? { version: Number(m[2]) } : {}) };
}

/** The final verdict: the table is printed; a run where any host did not succeed exits 1. */
function verdict(view: RunView): void {
  const targets = view.targets ?? [];
  const notOk = targets.filter((t) => t.state !== 'succeeded').length;
  if (notOk > 0) throw new CliError(`${notOk} of ${targets.length} hosts did not succeed (run ${view.id}${view.reason ? `: ${view.reason}` : ''})`);
}

/** `gpufleet exec`: sign a command locally, run it on the hosts a selector matches, follow it live. */
export function execCommand(deps: CliDeps, term?: HiddenInput): Command {
  return new Command('exec')
    .description('run a command on every host a label selector matches, signed with your operator key, and follow it live')
    .argument('[command...]', 'the command and its arguments, after --')
    .requiredOption('-l, --selector <selector>', "hosts to run on: a label selector such as 'gpu.model=H100,region=eu' ('*' for all)")
    .option('--sh <script>', 'run this inline shell script (sh -c) instead of a command')
    .option('--script <name[@version]>', 'run a signed script from the library (newest version unless @VERSION)')
    .option('--arg <value>', 'an argument for --script (repeatable)', collect)
    .option('--key <name>', "operator key to sign with: a name, or a key file's path (default: default)")
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .option('--cap <file>', 'your capability (from `caps grant --out`); not needed when your key is a fleet root')
    .option('--timeout <duration>', 'kill the command (its whole process group) after this long', '60s')
    .option('--env <NAME=value>', 'set an environment variable for the command (repeatable)', collect)
    .option('--cwd <dir>', 'working folder on the host')
    .option('--run-as <user>', 'run as this user on the host')
    .option('--max-parallel <n>', 'at most this many hosts at once', intOption('--max-parallel', 1, 10_000_000))
    .option('--batch-size <n|p%>', 'hosts per batch; the next batch starts when one is over')
    .option('--failure-threshold <n|p%>', 'stop starting hosts once more than this many did not succeed')
    .option('--detach', 'print the run id and return at once')
    .option('--no-progress', 'no progress bar (it is shown on terminals)')
    .addHelpText(
      'after',
      `
The command is signed here with your key; the control plane only routes it, and every host checks
the signature, your capability, its own labels and the time before it runs anything.

Examples:
  gpufleet exec -l gpu.model=H100 -- nvidia-smi -L
  gpufleet exec -l 'region=eu' --batch-size 10% --failure-threshold 2 -- systemctl restart nvidia-persistenced
  gpufleet exec -l pool=train --sh 'dmesg | grep -i xid | tail -5' --timeout 30s
  gpufleet exec -l '*' --script disk-check --arg /data --cap alice.cap.json
  gpufleet exec -l hostname=gpu-node-07 --env CUDA_VISIBLE_DEVICES=0 --cwd /opt/app -- ./selftest

Output lines carry their host in front (gpu-node-07 | ...); a table sums up each host at the end.
The exit code is 1 when any host did not succeed. Ctrl-C cancels the run with a cancel signed by
your key (hosts that have not started it refuse it for good, offline ones when they reconnect); a
second Ctrl-C stops
following it. See the run again with \`gpufleet runs get ID\` and \`gpufleet runs logs ID\`.`,
    )
    .action(async (argv: string[], _opts, cmd: Command) => {
      const o = deps.opts<ExecFlags>(cmd);
      const format = deps.format(cmd);
      const client = deps.client(cmd);
      // Everything that can be wrong on the command line is found before the key is unlocked.
      const timeoutMs = parseTimeout(o.timeout);
      const env = parseEnvPairs(o.env ?? []);
      const batch = {
        ...(o.maxParallel === undefined ? {} : { maxParallel: o.maxParallel }),
        ...(o.batchSize === undefined ? {} : { batchSize: parseCountOrPercent('--batch-size', o.batchSize) }),
        ...(o.failureThreshold === undefined ? {} : { failureThreshold: parseCountOrPercent('--failure-threshold', o.failureThreshold) }),
      };
      if (o.batchSize !== undefined && (batch.batchSize === 0 || batch.batchSize === '0%')) throw new UsageError('--batch-size must be at least 1 host');
      const capability = o.cap === undefined ? null : readCapabilityFile(o.cap, deps.io.cwd);
      if (o.arg && o.script === undefined) throw new UsageError('--arg goes with --script; for a command, put its arguments after --');
      let script: { name: string; version: number; sha256: string; args: string[] } | undefined;
      if (o.script !== undefined) {
        if (argv.length > 0 || o.sh !== undefined) throw new UsageError('give only one of `-- CMD ARGS...`, `--sh` and `--script`');
        const ref = scriptRef(o.script);
        const found = await client.get<{ name: string; version: number; sha256: string }>(`/api/v1/scripts/${seg(ref.name)}`, { version: ref.version });
        script = { name: found.name, version: found.version, sha256: found.sha256, args: o.arg ?? [] };
      }
      const spec = commandSpecOf({ argv, ...(o.sh === undefined ? {} : { sh: o.sh }), ...(script ? { script } : {}) });
      const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
      if (capability && capability.aud !== key.did) throw new UsageError(`--cap ${o.cap} was granted to ${capability.aud}, not to your key ${key.did}`);
      const payload = buildPayload({
        spec,
        selector: o.selector,
        timeoutMs,
        env,
        cwd: o.cwd ?? null,
        runAs: o.runAs ?? null,
        invoker: key.did,
        capability,
        now: deps.now(),
      });
      const command = signCommand(payload, key.privateKeyPem);

      const submitted = await client.post<SubmittedRun>('/api/v1/runs', { command, ...(Object.keys(batch).length > 0 ? { batch } : {}) });
      const human = format === 'table' || format === 'wide';
      if (o.detach) {
        if (human) deps.io.out(`${submitted.id}\n`);
        else deps.io.out(renderData(submitted, format === 'yaml' ? 'yaml' : 'json'));
        return;
      }
      if (human) deps.io.err(`run ${submitted.id}: ${submitted.targets.length} host${submitted.targets.length === 1 ? '' : 's'}\n`);

      const conn = resolveConnection({ server: o.server, token: o.token, context: o.context }, deps.io);
      const following = followRun({ io: deps.io, conn, client, now: deps.now }, submitted.id, {
        progress: human && o.progress && deps.io.stdoutIsTty,
        print: human,
      });
      let interrupts = 0;
      const stopListening = deps.io.onInterrupt(() => {
        interrupts++;
        if (interrupts > 1) return following.detach();
        deps.io.err(`\ncanceling run ${submitted.id} (Ctrl-C again to stop following it)\n`);
        // Signed with the key still in hand: hosts that have not started it (offline ones too) then refuse it for good.
        const signed = signedCancelFor(payload, key, deps.now());
        client.post(`/api/v1/runs/${seg(submitted.id)}/cancel`, { signed }).catch((err: Error) => deps.io.err(`could not cancel: ${err.message}\n`));
      });
      let view: RunView;
      try {
        view = await following.result;
      } finally {
        stopListening();
      }
      if (human) {
        // A table of thousands of "succeeded" rows hides the few that matter: past 50 hosts, only those.
        const targets = view.targets ?? [];
        const rows = targets.length > SUMMARY_ALL_UP_TO ? targets.filter((t) => t.state !== 'succeeded') : targets;
        if (rows.length > 0) deps.io.out(`\n${renderSummary(rows, { width: deps.io.columns, wide: format === 'wide' })}`);
        if (rows.length < targets.length)
          deps.io.out(`${rows.length === 0 ? '\n' : ''}(${targets.length - rows.length} hosts succeeded and are not listed: gpufleet runs get ${view.id})\n`);
      } else {
        deps.io.out(renderData(view, format === 'yaml' ? 'yaml' : 'json'));
      }
      verdict(view);
      if (human) deps.io.err(`all ${view.targets?.length ?? 0} hosts succeeded\n`);
    });
}
