import { isPair, isSeq, visit, type Document } from 'yaml';
import { z } from 'zod';
import { JobSpec } from './job-spec.js';
import { parseJobDuration, parseJobSize } from './job-units.js';
import { closestFieldOf, readYamlFile, unitField, withoutUndefined, yamlKeyText, type YamlFileFormat, type YamlFileProblem } from './yaml-file.js';

export { formatFieldPath } from './yaml-file.js';

/**
 * The job file (issue 10): YAML that people write, with human units (`10s`, `40GiB`) and most
 * fields left out, turned into the normalized JobSpec that is signed (job-spec.ts), every default
 * filled in. Every problem is reported with its line, column and field path
 * (`llama.yaml:9:5: allocations.web.resources.gpu_memory_min: '40Gb' is not a size such as 40GiB
 * or 512MiB`), so the CLI, the server's plan/parse routes and the dashboard all say the same thing
 * (yaml-file.ts reads and reports; this file gives the schema and its words).
 */

/** A job file larger than this is refused before it is parsed. */
export const JOB_FILE_MAX_BYTES = 1_048_576;

/**
 * What a job file gets for each field it leaves out (durations in ms). Health checks get 30 s of
 * grace after a start: a server that needs longer to load its weights says `grace: 10m`, and one
 * that is up at once loses only the first half minute of checks.
 */
export const JOB_FILE_DEFAULTS = {
  kind: 'service',
  strategy: 'binpack',
  count: 1,
  gpus: 0,
  restart: { attempts: 3, within: 600_000, delay: 5_000 },
  stop_grace: 10_000,
  health: { interval: 10_000, timeout: 2_000, grace: 30_000, failures: 3 },
  update: { max_parallel: 1, canary: 0, healthy_for: 30_000, auto_revert: false, deadline: 600_000 },
  reschedule: { offline_grace: 120_000 },
} as const;

/** One problem of a job file: where (1-based line and column), which field, and what is wrong. */
export type JobFileProblem = YamlFileProblem;

export interface JobFileOptions {
  /** The file's name, put in front of each position (`llama.yaml:9:5`). */
  file?: string;
}

// ---- the file's schema: types, units and defaults; JobSpec then checks everything else ----

const duration = (fallback: number, min = 0, minText = '') => unitField(parseJobDuration, fallback, min, minText);
const size = () => unitField(parseJobSize, undefined);
/** A field that takes one value or a list of them: `gpu_model: H100` is `[H100]`. */
const oneOrList = <T extends z.ZodType>(item: T) => z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(item));

const FileHealth = z.strictObject({
  http: z.string().optional(),
  tcp: z.string().optional(),
  command: z.array(z.string()).optional(),
  interval: duration(JOB_FILE_DEFAULTS.health.interval, 100, '100ms'),
  timeout: duration(JOB_FILE_DEFAULTS.health.timeout, 100, '100ms'),
  grace: duration(JOB_FILE_DEFAULTS.health.grace),
  failures: z.number().default(JOB_FILE_DEFAULTS.health.failures),
});

const FileRestart = z.strictObject({
  attempts: z.number().default(JOB_FILE_DEFAULTS.restart.attempts),
  within: duration(JOB_FILE_DEFAULTS.restart.within),
  delay: duration(JOB_FILE_DEFAULTS.restart.delay),
});

const FileResources = z.strictObject({
  gpus: z.number().default(JOB_FILE_DEFAULTS.gpus),
  gpu_memory_min: size(),
  gpu_model: oneOrList(z.string()).optional(),
  gpu_vendor: z.string().optional(),
  cpu: z.number().optional(),
  memory: size(),
});

const FileGroup = z
  .strictObject({
    count: z.number().default(JOB_FILE_DEFAULTS.count),
    executor: z.string().optional(),
    image: z.string().optional(),
    command: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).default({}),
    resources: FileResources.prefault({}),
    health: FileHealth.optional(),
    restart: FileRestart.prefault({}),
    stop_grace: duration(JOB_FILE_DEFAULTS.stop_grace),
  })
  .transform((g, ctx) => {
    if (g.executor !== undefined) return { ...g, executor: g.executor };
    // An image says what runs; without one the file must say how (a command on the host is never a guess).
    if (g.image !== undefined) return { ...g, executor: 'container' };
    ctx.addIssue({ code: 'custom', path: ['executor'], message: 'required: container (runs an image) or process (runs a command on the host)' });
    return z.NEVER;
  });

const FileUpdate = z.strictObject({
  max_parallel: z.number().default(JOB_FILE_DEFAULTS.update.max_parallel),
  canary: z.number().default(JOB_FILE_DEFAULTS.update.canary),
  healthy_for: duration(JOB_FILE_DEFAULTS.update.healthy_for),
  auto_revert: z.boolean().default(JOB_FILE_DEFAULTS.update.auto_revert),
  deadline: duration(JOB_FILE_DEFAULTS.update.deadline, 1000, '1s'),
});

const FileReschedule = z.strictObject({
  offline_grace: duration(JOB_FILE_DEFAULTS.reschedule.offline_grace),
});

const JobFile = z
  .strictObject({
    name: z.string(),
    kind: z.string().default(JOB_FILE_DEFAULTS.kind),
    allocations: z.record(z.string(), FileGroup),
    constraints: oneOrList(z.string()).default([]),
    strategy: z.string().optional(),
    spread: z.string().optional(),
    pin: z.record(z.string(), z.string()).default({}),
    update: FileUpdate.prefault({}),
    reschedule: FileReschedule.prefault({}),
  })
  .transform((j, ctx) => {
    // `spread: rack` alone means strategy spread; with `strategy: binpack` it contradicts itself.
    if (j.spread !== undefined && j.strategy !== undefined && j.strategy !== 'spread') {
      ctx.addIssue({
        code: 'custom',
        path: ['strategy'],
        message: `'${j.strategy}' contradicts spread: ${j.spread} (spread needs strategy: spread, or no strategy)`,
      });
      return z.NEVER;
    }
    return { ...j, strategy: j.strategy ?? (j.spread !== undefined ? 'spread' : JOB_FILE_DEFAULTS.strategy) };
  });

// ---- messages ----

/** The field `word` most likely means, when one is close enough (names from other tools included). */
export function closestField(word: string, fields: readonly string[]): string | undefined {
  return closestFieldOf(word, fields, KNOWN_MISNAMES);
}

/** Names people reach for from other tools, and what this file calls it (fields and enumeration values). */
const KNOWN_MISNAMES: Record<string, string> = {
  replicas: 'count',
  instances: 'count',
  driver: 'executor',
  environment: 'env',
  args: 'command',
  cmd: 'command',
  gpu: 'gpus',
  gpu_memory: 'gpu_memory_min',
  vram: 'gpu_memory_min',
  mem: 'memory',
  cpus: 'cpu',
  healthcheck: 'health',
  restart_policy: 'restart',
  groups: 'allocations',
  tasks: 'allocations',
  services: 'allocations',
  // Values of enumerations: what an executor or strategy is called elsewhere.
  docker: 'container',
  podman: 'container',
  exec: 'process',
  raw_exec: 'process',
  host: 'process',
  pack: 'binpack',
};

// ---- the parser ----

/**
 * Numbers and booleans written as env values or command arguments are meant as the text they
 * were written as (`PORT: 8000`, `[sleep, 1.10]`): keep the source text, not `1.1`.
 */
function keepArgumentText(doc: Document): void {
  visit(doc, {
    Scalar(key, node, path) {
      if (typeof node.value !== 'number' && typeof node.value !== 'boolean') return;
      const keys = path.filter(isPair).map((p) => yamlKeyText(p.key));
      const parent = path[path.length - 1];
      const isEnvValue = key === 'value' && keys.length === 4 && keys[0] === 'allocations' && keys[2] === 'env';
      const inArgv =
        typeof key === 'number' &&
        isSeq(parent) &&
        keys[0] === 'allocations' &&
        ((keys.length === 3 && keys[2] === 'command') || (keys.length === 4 && keys[2] === 'health' && keys[3] === 'command'));
      if (isEnvValue || inArgv) node.value = node.source ?? String(node.value);
    },
  });
}

const JOB_FILE_FORMAT: YamlFileFormat = {
  noun: 'job file',
  topFields: 'name, allocations, ...',
  maxBytes: JOB_FILE_MAX_BYTES,
  schema: JobFile,
  misnames: KNOWN_MISNAMES,
  prepare: keepArgumentText,
};

/**
 * Parses a job file into the normalized, signable JobSpec, every default filled in. Throws
 * FleetError('invalid_argument') naming the line, column and field of the first problem (all of
 * them, up to 50, in `details.problems`): YAML syntax, duplicate keys, unknown fields (with the
 * field probably meant), wrong types, bad units, values out of range, and the spec's own rules.
 */
export function parseJobFile(text: string, opts: JobFileOptions = {}): JobSpec {
  return readYamlFile(JOB_FILE_FORMAT, text, opts.file, (data, report) => {
    const read = JobFile.safeParse(data);
    if (!read.success) return report(read.error.issues);
    const spec = JobSpec.safeParse(withoutUndefined(read.data));
    if (!spec.success) return report(spec.error.issues);
    return spec.data;
  });
}
