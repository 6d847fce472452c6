import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { CliDeps } from '../command-deps.js';
import { intOption } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { print, termSafe } from '../output.js';

/** The file a running demo writes its simulated fleet's control endpoint and token to (0600). */
export const SIM_CONTROL_FILE = 'sim-control.json';

const KINDS = [
  'xid',
  'sxid',
  'ecc-storm',
  'row-remap',
  'thermal',
  'fall-off-bus',
  'tool-failure',
  'agent-crash',
  'network-drop',
  'clear',
  'alloc-crash',
  'alloc-unhealthy',
] as const;
type Kind = (typeof KINDS)[number];
/** Faults on one allocation: the target is the allocation (job/name or id), not a host. */
const ALLOC_KINDS: readonly Kind[] = ['alloc-crash', 'alloc-unhealthy'];

interface InjectFlags {
  gpu?: number;
  dataDir: string;
  duration?: string;
  ramp?: string;
  hold?: string;
  restartAfter?: string;
  failure?: string;
  message?: string;
  form?: string;
  toolFails?: boolean;
  xid?: boolean;
  switch?: number;
  link?: number;
  corrected?: number;
  uncorrected?: number;
}

/** An injection as the control endpoint answers it (the fault injector's record). */
interface InjectionRecord {
  hostname: string;
  kind: string;
  summary: string;
  lines: string[];
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function number(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(text)) throw new UsageError(`${what} '${text}' is not a number`);
  return Number(text);
}

/**
 * The fault a command line asks for, in the scenario-file shape (FaultSpec) the control
 * endpoint validates again. TARGET is a host, or an allocation as job/name (the fault lands on
 * the host it runs on, a GPU fault on its GPU unless --gpu says); alloc-crash and
 * alloc-unhealthy take an allocation (job/name or its id). VALUE is the kind's main value: the
 * code of xid/sxid, the state of row-remap, the target °C of thermal, the duration of
 * network-drop and alloc-unhealthy, the exit code of alloc-crash.
 */
export function faultFromArgs(target: string, kind: string, value: string | undefined, f: InjectFlags): Record<string, unknown> {
  if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`'${kind}' is not a fault: one of ${KINDS.join(', ')}`);
  const k = kind as Kind;
  if (ALLOC_KINDS.includes(k)) {
    if (value !== undefined && f.duration !== undefined) throw new UsageError(`${kind} takes its duration as VALUE or --duration, not both`);
    if (k === 'alloc-crash') return defined({ inject: k, alloc: target, exitCode: number(value, 'exit code') });
    return defined({ inject: k, alloc: target, duration: value ?? f.duration });
  }
  // `llama/web-0`: the host that allocation runs on now (and its GPU, unless --gpu says).
  const onAlloc = target.includes('/');
  const where = onAlloc ? { alloc: target } : { host: target };
  const needsValue: Partial<Record<Kind, string>> = {
    xid: 'an XID code (gpufleet sim inject HOST xid 79)',
    sxid: 'an SXid code (gpufleet sim inject HOST sxid 12028)',
  };
  if (value === undefined && needsValue[k]) throw new UsageError(`${kind} needs ${needsValue[k]}`);
  const takesValue: Kind[] = ['xid', 'sxid', 'row-remap', 'thermal', 'network-drop'];
  if (value !== undefined && !takesValue.includes(k)) throw new UsageError(`${kind} takes no value ('${value}'): use its options (gpufleet sim inject --help)`);
  // On a host, GPU 0 unless --gpu says; on an allocation, its own GPU.
  const gpu = f.gpu ?? (onAlloc ? undefined : 0);
  switch (k) {
    case 'xid':
      return defined({ inject: k, ...where, gpu, code: number(value, 'XID code'), message: f.message });
    case 'sxid':
      return defined({ inject: k, ...where, code: number(value, 'SXid code'), switch: f.switch, link: f.link, message: f.message });
    case 'ecc-storm':
      return defined({ inject: k, ...where, gpu, duration: f.duration, corrected: f.corrected, uncorrected: f.uncorrected });
    case 'row-remap':
      return defined({ inject: k, ...where, gpu, state: value ?? 'pending', xid: f.xid });
    case 'thermal':
      return defined({ inject: k, ...where, gpu, target: number(value, 'target temperature') ?? 92, ramp: f.ramp, hold: f.hold });
    case 'fall-off-bus':
      return defined({ inject: k, ...where, gpu, form: f.form, toolFails: f.toolFails });
    case 'tool-failure':
      return defined({ inject: k, ...where, failure: f.failure, message: f.message, gpu: f.gpu, duration: f.duration });
    case 'agent-crash':
      return defined({ inject: k, ...where, restartAfter: f.restartAfter });
    case 'network-drop':
      return defined({ inject: k, ...where, duration: value ?? f.duration ?? '30s' });
    case 'clear':
      return defined({ inject: k, ...where, gpu: f.gpu });
    case 'alloc-crash':
    case 'alloc-unhealthy':
      throw new UsageError(`${kind} is an allocation fault`); // handled above
  }
}

/** Reads the control file of a running demo: its endpoint and token. */
export function readSimControl(dataDir: string): { url: string; token: string } {
  const file = join(dataDir, SIM_CONTROL_FILE);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new CliError(`no running demo with simulated hosts uses ${dataDir} (${file} is missing): start one with \`gpufleet demo\`, or give its --data-dir`);
    throw new CliError(`cannot read ${file}: ${code ?? 'not JSON'}`);
  }
  const d = doc as { url?: unknown; token?: unknown } | null;
  if (typeof d?.url !== 'string' || !/^http:\/\/127\.0\.0\.1:\d+$/.test(d.url) || typeof d.token !== 'string')
    throw new CliError(`${file} is not a sim control file`);
  return { url: d.url, token: d.token };
}

/** `gpufleet sim inject TARGET KIND [VALUE]`: a fault on a host or an allocation of the running demo's simulated fleet. */
export function simInjectCommand(deps: CliDeps): Command {
  return new Command('inject')
    .description("inject a fault into a host or an allocation of the running demo's simulated fleet")
    .argument('<target>', 'simulated hostname (sim-h100-001) or node id; or an allocation, job/name (llama/web-0): where it runs')
    .argument('<kind>', `the fault: ${KINDS.join(', ')}`)
    .argument(
      '[value]',
      'xid/sxid: the code; thermal: target °C (92); row-remap: pending|failure; network-drop: duration (30s); alloc-crash: exit code (1); alloc-unhealthy: duration (until cleared)',
    )
    .option('--gpu <n>', 'GPU index (default 0)', intOption('--gpu', 0, 63))
    .option('--data-dir <dir>', "the demo's data dir (its sim control file is there)", './gpufleet-data')
    .option('--duration <d>', 'ecc-storm, tool-failure, alloc-unhealthy: how long (500ms, 20s, 2m)')
    .option('--ramp <d>', 'thermal: time to reach the target')
    .option('--hold <d>', 'thermal: time held at the target (default: until cleared)')
    .option('--restart-after <d>', 'agent-crash: restart the agent after this long (default: stays down)')
    .option('--failure <kind>', 'tool-failure: a recorded nvidia-smi failure (gpu-lost, device-handle, ...)')
    .option('--message <text>', 'xid, sxid, tool-failure: the message text')
    .addOption(new Option('--form <form>', 'fall-off-bus: XID 79 or the three-line record').choices(['xid', 'multiline']))
    .option('--tool-fails', 'fall-off-bus: the vendor tool fails too')
    .option('--xid', 'row-remap: also write XID 63 (pending) or 64 (failure)')
    .option('--switch <n>', 'sxid: NVSwitch index', intOption('--switch', 0, 15))
    .option('--link <n>', 'sxid: NVLink number', intOption('--link', 0, 63))
    .option('--corrected <n>', 'ecc-storm: corrected errors', intOption('--corrected', 0, 1e12))
    .option('--uncorrected <n>', 'ecc-storm: uncorrected errors', intOption('--uncorrected', 0, 1e9))
    .addHelpText(
      'after',
      `
Acts on the simulated fleet of a running \`gpufleet demo\` (through a loopback endpoint whose
address and token the demo keeps in DATA_DIR/${SIM_CONTROL_FILE}, mode 0600). Then watch the
fleet react: \`gpufleet events --node HOST\`, \`gpufleet nodes get HOST\`, \`gpufleet alerts ls\`.

Examples:
  gpufleet sim inject sim-h100-001 xid 79 --gpu 3          GPU 3 falls off the bus: cordoned, alert
  gpufleet sim inject sim-a100-002 xid 13                  an application fault: recorded only
  gpufleet sim inject sim-l40s-001 thermal 95 --ramp 30s   heats GPU 0 to 95 °C
  gpufleet sim inject sim-h100-002 ecc-storm --gpu 1 --duration 20s
  gpufleet sim inject sim-h100-001 agent-crash --restart-after 30s
  gpufleet sim inject sim-h100-001 network-drop 1m
  gpufleet sim inject sim-h100-001 clear                   its hardware is fine again
  gpufleet health clear sim-h100-001/3 --reason "GPU replaced"

Allocations of jobs running on simulated hosts (fake workloads):
  gpufleet sim inject llama/web-0 alloc-crash 137          it exits with code 137: restarted by its host
  gpufleet sim inject llama/web-0 alloc-unhealthy 30s      its health checks fail for 30 s
  gpufleet sim inject llama/web-0 xid 79                   XID 79 on the GPU it holds: it moves elsewhere
  gpufleet sim inject llama/web-0 agent-crash              its host's agent dies: it moves after the grace`,
    )
    .action(async (target: string, kind: string, value: string | undefined, _opts, cmd: Command) => {
      const o = deps.opts<InjectFlags>(cmd);
      if (target.length === 0 || target.length > 253) throw new UsageError('the target is a simulated hostname, a node id, or an allocation (job/name)');
      const fault = faultFromArgs(target, kind, value, o);
      const control = readSimControl(resolve(deps.io.cwd, o.dataDir));
      let res: Response;
      try {
        res = await fetch(`${control.url}/v1/faults`, {
          method: 'POST',
          headers: { authorization: `Bearer ${control.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(fault),
          signal: AbortSignal.timeout(15_000),
        });
      } catch (err) {
        throw new CliError(`the demo's simulated fleet does not answer at ${control.url} (${(err as Error).message}): is \`gpufleet demo\` still running?`);
      }
      const body = (await res.json().catch(() => null)) as (InjectionRecord & { error?: { code?: string; message?: string } }) | null;
      if (!res.ok || !body) {
        const message = body?.error?.message ?? `the sim control endpoint answered ${res.status}`;
        throw res.status === 400 ? new UsageError(message) : new CliError(message);
      }
      print(deps.io, deps.format(cmd), {
        data: body,
        text: () =>
          `injected on ${termSafe(body.hostname)}: ${termSafe(body.summary)}\n` +
          body.lines.map((l) => `  kernel log: ${termSafe(l)}\n`).join('') +
          (target.includes('/')
            ? `watch it: gpufleet jobs status ${termSafe(target.split('/')[0]!)}  ·  gpufleet allocs ls --node ${termSafe(body.hostname)}\n`
            : ALLOC_KINDS.includes(kind as Kind)
              ? `watch it: gpufleet allocs ls --node ${termSafe(body.hostname)}\n`
              : `watch it: gpufleet events --node ${termSafe(body.hostname)}  ·  gpufleet nodes get ${termSafe(body.hostname)}\n`),
      });
    });
}
