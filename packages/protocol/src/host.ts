import { z } from 'zod';

export const DiskFacts = z.object({
  device: z.string(),
  mount: z.string(),
  fsType: z.string(),
  totalBytes: z.number().nonnegative(),
  usedBytes: z.number().nonnegative(),
});

export const NetworkInterfaceFacts = z.object({
  name: z.string(),
  mac: z.string().nullable(),
  addresses: z.array(z.string()),
});

export const HostFacts = z.object({
  hostname: z.string().min(1).max(253),
  os: z.object({ id: z.string(), name: z.string(), version: z.string() }),
  kernel: z.string(),
  arch: z.string(),
  cpu: z.object({ model: z.string(), cores: z.number().int().nonnegative(), threads: z.number().int().nonnegative() }),
  memoryTotalBytes: z.number().nonnegative(),
  disks: z.array(DiskFacts).max(256),
  network: z.array(NetworkInterfaceFacts).max(256),
  containerRuntime: z.object({ name: z.enum(['docker', 'podman']), socket: z.string() }).nullable(),
  agentVersion: z.string(),
  bootTime: z.number().int().nullable(),
});
export type HostFacts = z.infer<typeof HostFacts>;

export const HostSample = z.object({
  cpuPct: z.number().min(0).max(100),
  load1: z.number().nonnegative(),
  load5: z.number().nonnegative(),
  load15: z.number().nonnegative(),
  memoryUsedBytes: z.number().nonnegative(),
  memoryTotalBytes: z.number().nonnegative(),
  disks: z.array(z.object({ mount: z.string(), usedBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative() })).max(256),
  net: z.array(z.object({ name: z.string(), rxBytesPerSec: z.number().nonnegative(), txBytesPerSec: z.number().nonnegative() })).max(256),
});
export type HostSample = z.infer<typeof HostSample>;
