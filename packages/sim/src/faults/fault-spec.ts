import { z } from 'zod';
import { ALLOC_ID, JOB_NAME } from '@gpufleet/protocol';
import { KERNEL_TIME_STYLES } from './kernel-lines.js';
import { NVIDIA_TOOL_FAILURE_KINDS } from './tool-messages.js';

/** `1.5s` -> 1500. Durations: a number with ms, s, m or h (decimals allowed: `0.5s`). */
export function parseSimDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

/** A duration written as text (`500ms`, `2s`, `1.5m`), parsed to milliseconds. */
export const SimDuration = z.string({ error: 'expected a duration such as 500ms, 2s or 1m' }).transform((text, ctx) => {
  const ms = parseSimDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `'${text}' is not a duration such as 500ms, 2s or 1m` });
    return z.NEVER;
  }
  return ms;
});

const host = z.string({ error: 'expected a hostname such as sim-h100-001' }).min(1).max(253);
const gpu = z.number({ error: 'expected a GPU index (0, 1, ...)' }).int().min(0).max(63);

/** `llama/web-0` (a job and an allocation name), or an allocation id. */
export function isAllocRef(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return ALLOC_ID.test(text);
  return JOB_NAME.test(text.slice(0, slash)) && /^[a-z0-9_]{1,32}-\d{1,5}$/.test(text.slice(slash + 1));
}
const alloc = z
  .string({ error: 'expected an allocation: job/name such as llama/web-0, or its id' })
  .max(200)
  .refine(isAllocRef, 'expected an allocation: job/name such as llama/web-0, or its id');

/**
 * Where a host fault lands: `host`, or `alloc` (the host an allocation runs on; for GPU faults
 * its first GPU unless `gpu` says otherwise), so a scenario can hit "the GPU llama/web-0 got"
 * without knowing where the scheduler put it.
 */
const target = { host: host.optional(), alloc: alloc.optional() };
const code = z.number({ error: 'expected an XID/SXid code number' }).int().min(1).max(99_999);

/** The `inject` kinds, in the order of FaultSpec. */
export const FAULT_KINDS = [
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
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults on one GPU: with `host` they need `gpu`; with `alloc` it defaults to the allocation's first GPU. */
export const GPU_FAULTS: ReadonlySet<FaultKind> = new Set(['xid', 'ecc-storm', 'row-remap', 'thermal', 'fall-off-bus']);

/** Every fault the simulator injects, as one object (a scenario event without its timing). */
export const FaultSpec = z
  .discriminatedUnion(
    'inject',
    [
      /** An NVIDIA XID kernel line about one GPU. */
      z.strictObject({
        inject: z.literal('xid'),
        ...target,
        gpu: gpu.optional(),
        code,
        /** Default: a process for application faults, `'<unknown>'` for the rest. null prints unknown. */
        pid: z.number().int().min(0).max(4_194_304).nullable().optional(),
        process: z
          .string()
          .min(1)
          .max(64)
          .regex(/^[^\s,]+$/, 'a process name without spaces or commas')
          .nullable()
          .optional(),
        /** Default: the XID catalog's description. */
        message: z.string().min(1).max(2000).optional(),
        gpuInstance: z.number().int().min(0).max(99).optional(),
        timeStyle: z.enum(KERNEL_TIME_STYLES).optional(),
      }),
      /** An NVSwitch SXid kernel line (the host's switch `switch`, default 0). */
      z.strictObject({
        inject: z.literal('sxid'),
        ...target,
        code,
        switch: z.number().int().min(0).max(15).optional(),
        link: z.number().int().min(0).max(63).optional(),
        message: z.string().min(1).max(2000).optional(),
        timeStyle: z.enum(KERNEL_TIME_STYLES).optional(),
      }),
      /** Corrected ECC errors jump, then uncorrected ones rise, over `duration`. */
      z.strictObject({
        inject: z.literal('ecc-storm'),
        ...target,
        gpu: gpu.optional(),
        duration: SimDuration.optional(),
        corrected: z.number().int().min(0).max(1e12).optional(),
        uncorrected: z.number().int().min(0).max(1e9).optional(),
      }),
      /** Row remapping: a remap pending until reset, or a failed one; `xid` also writes XID 63 / 64. */
      z.strictObject({
        inject: z.literal('row-remap'),
        ...target,
        gpu: gpu.optional(),
        state: z.enum(['pending', 'failure']),
        xid: z.boolean().optional(),
      }),
      /** The GPU's temperature climbs to `target` °C over `ramp`, stays for `hold` (default: until cleared). */
      z.strictObject({
        inject: z.literal('thermal'),
        ...target,
        gpu: gpu.optional(),
        target: z.number().min(0).max(150),
        ramp: SimDuration.optional(),
        hold: SimDuration.optional(),
      }),
      /** XID 79 in the kernel log (or the three-line form without a number) and the GPU gone from the tool. */
      z.strictObject({
        inject: z.literal('fall-off-bus'),
        ...target,
        gpu: gpu.optional(),
        form: z.enum(['xid', 'multiline']).optional(),
        /** Also make the whole tool invocation fail, as nvidia-smi does with a dead GPU. */
        toolFails: z.boolean().optional(),
        timeStyle: z.enum(KERNEL_TIME_STYLES).optional(),
      }),
      /** The vendor tool fails with a recorded message (or `message`), for `duration` or until cleared. */
      z.strictObject({
        inject: z.literal('tool-failure'),
        ...target,
        failure: z.enum(NVIDIA_TOOL_FAILURE_KINDS as [string, ...string[]]).optional(),
        message: z.string().min(1).max(4000).optional(),
        /** The GPU a device-handle / gpu-lost message names. Default 0. */
        gpu: gpu.optional(),
        duration: SimDuration.optional(),
      }),
      /** The agent dies without closing its session; restarted after `restartAfter` (default: stays down). */
      z.strictObject({
        inject: z.literal('agent-crash'),
        ...target,
        restartAfter: SimDuration.optional(),
      }),
      /** The host's network link is cut for `duration`. */
      z.strictObject({
        inject: z.literal('network-drop'),
        ...target,
        duration: SimDuration,
      }),
      /** Ends reading faults, brings dropped GPUs back and makes the tool work again (one GPU, or all; all also ends allocations' health failures). */
      z.strictObject({
        inject: z.literal('clear'),
        ...target,
        gpu: gpu.optional(),
      }),
      /** A simulated allocation's workload exits by itself with `exitCode` (default 1); its host's restart policy takes over. */
      z.strictObject({
        inject: z.literal('alloc-crash'),
        alloc,
        exitCode: z.number({ error: 'expected an exit code from 0 to 255' }).int().min(0).max(255).optional(),
      }),
      /** A simulated allocation's health checks fail for `duration` (default: until cleared), across its restarts. */
      z.strictObject({
        inject: z.literal('alloc-unhealthy'),
        alloc,
        duration: SimDuration.optional(),
      }),
    ],
    { error: (iss) => (iss.code === 'invalid_union' ? `inject must be one of ${FAULT_KINDS.join(', ')}` : undefined) },
  )
  .superRefine((f, ctx) => {
    if (f.inject === 'alloc-crash' || f.inject === 'alloc-unhealthy') return;
    if (f.host === undefined && f.alloc === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message: 'expected a hostname such as sim-h100-001 (or alloc: job/name, to hit the host an allocation runs on)',
      });
    if (f.host !== undefined && f.alloc !== undefined) ctx.addIssue({ code: 'custom', path: ['alloc'], message: 'give host or alloc, not both' });
    if (f.host !== undefined && GPU_FAULTS.has(f.inject) && !('gpu' in f && f.gpu !== undefined))
      ctx.addIssue({ code: 'custom', path: ['gpu'], message: 'expected a GPU index (0, 1, ...)' });
  });
export type FaultSpec = z.infer<typeof FaultSpec>;
export type FaultInput = z.input<typeof FaultSpec>;

/** The host a fault names; undefined when it names an allocation instead (alloc faults, or `alloc:` as the target). */
export function faultHost(spec: FaultSpec): string | undefined {
  return 'host' in spec ? spec.host : undefined;
}
