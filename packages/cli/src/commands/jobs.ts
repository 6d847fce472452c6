import { Command } from 'commander';
import { JOB_NAME, parseDurationMs, type JobDetailView, type JobSummaryView, type PlanView, type SubmitJobResponse } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { CliError, UsageError } from '../errors.js';
import { readCapabilityFile } from '../exec/build-payload.js';
import { unlockOperatorKey, type HiddenInput, type KeyFlags } from '../keys/passphrase.js';
import { print, renderData, renderTable, termSafe, type OutputFormat } from '../output.js';
import { downLines, followJob, progressLine, type FollowedJob } from '../workloads/job-progress.js';
import { readJobFile, signJobSpec } from '../workloads/job-submit.js';
import { allocColumns, failureLines, jobColumns, renderJobDetail, renderPlan } from '../workloads/job-views.js';
import { currentAllocations } from '../workloads/job-progress.js';

interface RunFlags extends KeyFlags {
  cap?: string;
  detach?: boolean;
  interval: string;
}

function human(format: OutputFormat): boolean {
  return format === 'table' || format === 'wide';
}

function dataFormat(format: OutputFormat): 'json' | 'yaml' {
  return format === 'yaml' ? 'yaml' : 'json';
}

/** A job name typed by a person, checked before any request. */
function checkJobName(name: string): string {
  if (!JOB_NAME.test(name)) throw new UsageError(`'${name}' is not a job name (lowercase letters, digits and -; see gpufleet jobs ls)`);
  return name;
}

/** `--interval`: how often progress is read, 100ms to 1m. */
function pollInterval(text: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch {
    throw new UsageError(`--interval '${text}' is not a duration such as 500ms, 1s or 5s`);
  }
  if (ms < 100 || ms > 60_000) throw new UsageError(`--interval '${text}' must be from 100ms to 1m`);
  return ms;
}

/** What `jobs run` says when it stops following, and its exit code (0 only when every allocation is up). */
function verdictOf(f: FollowedJob, version: number): { ok: boolean; line: string } {
  const { job, progress: p } = f;
  const what = `job ${job.name} version ${version}`;
  switch (f.outcome) {
    case 'running':
      // A batch job's allocations that finished well count as up: they ran.
      return {
        ok: true,
        line: `${what}: all ${p.desired} allocation${p.desired === 1 ? '' : 's'} ${job.kind === 'batch' ? 'running or complete' : 'running'}`,
      };
    case 'detached':
      return { ok: false, line: `stopped following ${what}; it keeps going without you: gpufleet jobs status ${job.name}` };
    case 'superseded':
      return { ok: false, line: `${what} was replaced by version ${job.version} while it was being followed` };
    case 'stopped':
      return { ok: false, line: `${what} was stopped` };
    case 'failed': {
      const d = job.deployment;
      const why = d && d.toVersion === version && d.message ? `: ${d.message}` : '';
      return { ok: false, line: `${what} ${d?.state === 'reverted' ? `was reverted to version ${d.fromVersion ?? '?'}` : 'failed'}${why}` };
    }
    default:
      return { ok: false, line: `${what}: ${p.desired - p.up} of ${p.desired} allocations not running (${progressLine(p)})` };
  }
}

/** `gpufleet jobs run|ls|status|plan|stop`. `term` stands in for the terminal (passphrase prompt) in tests. */
export function jobsCommand(deps: CliDeps, term?: HiddenInput): Command {
  const jobs = new Command('jobs').alias('job').description('run workloads on the fleet: signed job files placed on the right GPUs, supervised and moved');
  jobs.addHelpText(
    'after',
    `
A job file (YAML) says what runs (an image or a command), on how many GPUs of which kind, and
where (label constraints). It is signed here with your operator key; the control plane chooses
the hosts and GPUs, and every host checks the signature before it starts anything.

Examples:
  gpufleet jobs plan llama.yaml          where each allocation would go, or why it cannot
  gpufleet jobs run llama.yaml           sign, submit and follow until everything runs
  gpufleet jobs ls
  gpufleet jobs status llama
  gpufleet jobs stop llama`,
  );

  jobs
    .command('run')
    .description('validate a job file, sign it with your key, submit it and follow it until its allocations run')
    .argument('<file>', "the job file (YAML); '-' reads it from stdin")
    .option('--key <name>', "operator key to sign with: a name, or a key file's path (default: default)")
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .option('--cap <file>', 'your capability granting workload/run (from `caps grant --out`); not needed when your key is a fleet root')
    .option('--detach', 'submit and return at once, without following')
    .option('--interval <duration>', 'how often to read the progress while following', '1s')
    .addHelpText(
      'after',
      `
The file is checked here first: a mistake is reported with its line and field, e.g.
  llama.yaml:9:5: allocations.web.resources.gpu_memory_min: '40Gb' is not a size such as 40GiB or 512MiB

While following, one line shows the new version's progress:
  placed 3/4 · running 2/4 · failed 0
It ends when every allocation runs (healthy, where it has a health check): exit 0; or when
they settled with some failed or not placeable, or the update failed: exit 1, with the reasons.
Ctrl-C stops following only; the job keeps running.

Submitting the same file again changes nothing; a changed file is a new version, rolled out as
its update: section says.

Examples:
  gpufleet jobs run llama.yaml
  gpufleet jobs run llama.yaml --key alice --cap alice.cap.json
  gpufleet jobs run llama.yaml --detach -o json`,
    )
    .action(async (file: string, _opts, cmd: Command) => {
      const o = deps.opts<RunFlags>(cmd);
      const format = deps.format(cmd);
      const pollMs = pollInterval(o.interval);
      // Everything that can be wrong locally is found before the key is unlocked.
      const { source, spec } = readJobFile(file, deps.io.cwd, file === '-' ? await deps.io.readStdin() : undefined);
      const capability = o.cap === undefined ? null : readCapabilityFile(o.cap, deps.io.cwd);
      const client = deps.client(cmd);
      const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv }, term);
      const signed = signJobSpec(spec, key, capability, deps.now(), o.cap);
      const submitted = await client.post<SubmitJobResponse>('/api/v1/jobs', { signed, source });
      const version = submitted.job.version;
      const failures = failureLines(submitted.plan);

      if (human(format)) {
        const verb = submitted.created ? 'submitted' : 'unchanged (this spec is already the current version)';
        deps.io.err(`job ${termSafe(spec.name)} version ${version} ${verb}\n`);
        for (const line of failures) deps.io.err(`${termSafe(line)}\n`);
      }
      if (o.detach) {
        if (human(format)) deps.io.out(`${spec.name} ${version}\n`);
        else deps.io.out(renderData(submitted, dataFormat(format)));
        if (failures.length > 0) throw new CliError(`some allocations of job ${spec.name} cannot be placed (see above, or gpufleet jobs plan ${file})`);
        return;
      }

      const following = followJob(deps.io, client, submitted.job, version, submitted.plan, { pollMs, show: human(format) });
      const stopListening = deps.io.onInterrupt(() => following.detach());
      let followed: FollowedJob;
      try {
        followed = await following.result;
      } finally {
        stopListening();
      }
      const verdict = verdictOf(followed, version);
      if (human(format)) {
        const allocs = currentAllocations(followed.job, version);
        if (allocs.length > 0)
          deps.io.out(renderTable(allocColumns(deps.now(), { acrossJobs: false }), allocs, { width: deps.io.columns, wide: format === 'wide' }));
        for (const line of downLines(followed.job, version)) deps.io.err(`${line}\n`);
        if (followed.outcome !== 'running' && followed.outcome !== 'detached') for (const line of failures) deps.io.err(`${termSafe(line)}\n`);
      } else {
        deps.io.out(renderData({ ...submitted, job: followed.job, outcome: followed.outcome }, dataFormat(format)));
      }
      if (followed.outcome === 'detached') throw new CliError(verdict.line, { exitCode: 130 });
      if (!verdict.ok) throw new CliError(verdict.line);
      if (human(format)) deps.io.err(`${termSafe(verdict.line)}\n`);
    });

  jobs
    .command('ls')
    .alias('list')
    .description('list jobs: status, allocations running/wanted, GPUs held, version and age')
    .addHelpText(
      'after',
      `\nExamples:\n  gpufleet jobs ls\n  gpufleet jobs ls -o wide\n  gpufleet jobs ls -o json | jq '.items[] | select(.status != "running")'`,
    )
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<{ items: JobSummaryView[] }>('/api/v1/jobs');
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: jobColumns(deps.now()),
        rows: result.items,
        empty: 'no jobs yet (start one with gpufleet jobs run FILE)',
      });
    });

  jobs
    .command('status')
    .alias('get')
    .description("one job: its status, version and deployment, each allocation's node, GPUs, state, health and restarts, and its versions")
    .argument('<name>', 'job name')
    .option('--all', 'also the allocations that were stopped or replaced')
    .addHelpText('after', `\nExamples:\n  gpufleet jobs status llama\n  gpufleet jobs status llama --all -o wide\n  gpufleet jobs status llama -o yaml`)
    .action(async (name: string, _opts, cmd: Command) => {
      const { all } = deps.opts<{ all?: boolean }>(cmd);
      const job = await deps.client(cmd).get<JobDetailView>(`/api/v1/jobs/${seg(checkJobName(name))}`);
      print(deps.io, deps.format(cmd), {
        data: job,
        text: (wide) => renderJobDetail(job, { now: deps.now(), width: deps.io.columns, wide, all: Boolean(all) }),
      });
    });

  jobs
    .command('plan')
    .description('dry run: where each allocation of a job file would go, or why it cannot go anywhere (nothing is started)')
    .argument('<file>', "the job file (YAML); '-' reads it from stdin")
    .addHelpText(
      'after',
      `
The exit code is 1 when some allocation cannot be placed; each group that cannot says why:
  web: 2 cannot be placed: 3 nodes lack free H100s, 2 are cordoned, 1 fails \`!spot\`

Examples:
  gpufleet jobs plan llama.yaml
  gpufleet jobs plan llama.yaml -o wide
  gpufleet jobs plan llama.yaml -o json`,
    )
    .action(async (file: string, _opts, cmd: Command) => {
      const { source } = readJobFile(file, deps.io.cwd, file === '-' ? await deps.io.readStdin() : undefined);
      const plan = await deps.client(cmd).post<PlanView>('/api/v1/jobs/plan', { source });
      print(deps.io, deps.format(cmd), { data: plan, text: (wide) => renderPlan(plan, { width: deps.io.columns, wide }) });
      const unplaced = plan.failures.reduce((n, f) => n + f.unplaced, 0);
      if (plan.failures.length > 0) throw new CliError(`${unplaced} allocation${unplaced === 1 ? '' : 's'} of job ${plan.job} cannot be placed`);
    });

  jobs
    .command('stop')
    .description('stop every allocation of a job (its GPUs are freed); --purge also forgets the job and its history')
    .argument('<name>', 'job name')
    .option('--purge', 'also forget the job: its versions, allocations and output')
    .option('--reason <text>', 'why, kept in the audit log')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText(
      'after',
      `
On a terminal it asks first; scripts pass --yes.

Examples:
  gpufleet jobs stop llama
  gpufleet jobs stop llama --reason "moving to the new cluster" --yes
  gpufleet jobs stop llama --purge --yes`,
    )
    .action(async (name: string, _opts, cmd: Command) => {
      const o = deps.opts<{ purge?: boolean; reason?: string; yes?: boolean }>(cmd);
      checkJobName(name);
      if (o.reason !== undefined && o.reason.length > 500) throw new UsageError('--reason is at most 500 characters');
      const client = deps.client(cmd);
      if (!o.yes) {
        if (!deps.io.stdinIsTty) throw new UsageError(`stopping job ${name} needs --yes when not run from a terminal`);
        const job = await client.get<JobDetailView>(`/api/v1/jobs/${seg(name)}`);
        const what = `${job.running} running allocation${job.running === 1 ? '' : 's'}, ${job.gpus} GPU${job.gpus === 1 ? '' : 's'}`;
        const ok = await deps.io.confirm(`${o.purge ? 'Stop and forget' : 'Stop'} job ${termSafe(job.name)} (${what})?`);
        if (!ok) {
          deps.io.err('nothing stopped\n');
          return;
        }
      }
      const body = { ...(o.purge ? { purge: true } : {}), ...(o.reason === undefined ? {} : { reason: o.reason }) };
      const job = await client.post<JobDetailView | undefined>(`/api/v1/jobs/${seg(name)}/stop`, body);
      const format = deps.format(cmd);
      if (!job) {
        if (human(format)) deps.io.out(`job ${name} stopped and purged\n`);
        else deps.io.out(renderData({ name, purged: true }, dataFormat(format)));
        return;
      }
      print(deps.io, format, {
        data: job,
        text: () => {
          const told = job.allocations.filter((a) => a.desired === 'stop' && a.status !== 'stopped').length;
          return `job ${job.name} stopping: ${told} ${told === 1 ? 'allocation' : 'allocations'} told to stop\n`;
        },
      });
    });

  return jobs;
}
