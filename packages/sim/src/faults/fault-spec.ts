import { z } from 'zod';
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
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Every fault the simulator injects, as one object (a scenario event without its timing). */
export const FaultSpec = z.discriminatedUnion(
  'inject',
  [
    /** An NVIDIA XID kernel line about one GPU. */
    z.strictObject({
      inject: z.literal('xid'),
      host,
      gpu,
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
      host,
      code,
      switch: z.number().int().min(0).max(15).optional(),
      link: z.number().int().min(0).max(63).optional(),
      message: z.string().min(1).max(2000).optional(),
      timeStyle: z.enum(KERNEL_TIME_STYLES).optional(),
    }),
    /** Corrected ECC errors jump, then uncorrected ones rise, over `duration`. */
    z.strictObject({
      inject: z.literal('ecc-storm'),
      host,
      gpu,
      duration: SimDuration.optional(),
      corrected: z.number().int().min(0).max(1e12).optional(),
      uncorrected: z.number().int().min(0).max(1e9).optional(),
    }),
    /** Row remapping: a remap pending until reset, or a failed one; `xid` also writes XID 63 / 64. */
    z.strictObject({
      inject: z.literal('row-remap'),
      host,
      gpu,
      state: z.enum(['pending', 'failure']),
      xid: z.boolean().optional(),
    }),
    /** The GPU's temperature climbs to `target` °C over `ramp`, stays for `hold` (default: until cleared). */
    z.strictObject({
      inject: z.literal('thermal'),
      host,
      gpu,
      target: z.number().min(0).max(150),
      ramp: SimDuration.optional(),
      hold: SimDuration.optional(),
    }),
    /** XID 79 in the kernel log (or the three-line form without a number) and the GPU gone from the tool. */
    z.strictObject({
      inject: z.literal('fall-off-bus'),
      host,
      gpu,
      form: z.enum(['xid', 'multiline']).optional(),
      /** Also make the whole tool invocation fail, as nvidia-smi does with a dead GPU. */
      toolFails: z.boolean().optional(),
      timeStyle: z.enum(KERNEL_TIME_STYLES).optional(),
    }),
    /** The vendor tool fails with a recorded message (or `message`), for `duration` or until cleared. */
    z.strictObject({
      inject: z.literal('tool-failure'),
      host,
      failure: z.enum(NVIDIA_TOOL_FAILURE_KINDS as [string, ...string[]]).optional(),
      message: z.string().min(1).max(4000).optional(),
      /** The GPU a device-handle / gpu-lost message names. Default 0. */
      gpu: gpu.optional(),
      duration: SimDuration.optional(),
    }),
    /** The agent dies without closing its session; restarted after `restartAfter` (default: stays down). */
    z.strictObject({
      inject: z.literal('agent-crash'),
      host,
      restartAfter: SimDuration.optional(),
    }),
    /** The host's network link is cut for `duration`. */
    z.strictObject({
      inject: z.literal('network-drop'),
      host,
      duration: SimDuration,
    }),
    /** Ends reading faults, brings dropped GPUs back and makes the tool work again (one GPU, or all). */
    z.strictObject({
      inject: z.literal('clear'),
      host,
      gpu: gpu.optional(),
    }),
  ],
  { error: (iss) => (iss.code === 'invalid_union' ? `inject must be one of ${FAULT_KINDS.join(', ')}` : undefined) },
);
export type FaultSpec = z.infer<typeof FaultSpec>;
export type FaultInput = z.input<typeof FaultSpec>;
