import type { CatalogSeverity } from '@gpufleet/protocol';

/**
 * NVIDIA driver messages without an Xid number that still say a GPU is in trouble: the driver
 * could not initialise or bind a GPU, asks for a reset, or a companion module reports errors.
 * Anything not listed here (RPC history dumps, "GPU at PCI:...: GPU-<uuid>" identity lines,
 * stack traces) is not an event.
 */
export interface DriverMessage {
  /** Stable name of the condition, for policy rules and tests. */
  id: string;
  re: RegExp;
  description: string;
  severity: CatalogSeverity;
}

export const DRIVER_MESSAGES: readonly DriverMessage[] = [
  {
    id: 'rm-init-adapter-failed',
    re: /\bNVRM:.*\b(?:RmInitAdapter|rm_init_adapter) failed/i,
    description: 'the driver could not initialise the GPU',
    severity: 'critical',
  },
  {
    id: 'probe-not-called',
    re: /\bNVRM:.*\bprobe routine was not called\b/i,
    description: 'the driver did not bind to some GPUs (another driver such as nouveau holds them?)',
    severity: 'critical',
  },
  { id: 'probe-failed', re: /\bNVRM:.*\bprobe routine failed\b/i, description: 'the driver failed to probe some GPUs', severity: 'critical' },
  { id: 'pci-probe-failed', re: /\bnvidia: probe of \S+ failed\b/i, description: 'the kernel could not probe the GPU', severity: 'critical' },
  { id: 'api-mismatch', re: /\bNVRM: API mismatch\b/i, description: 'the NVIDIA kernel module and user-space driver versions differ', severity: 'critical' },
  { id: 'power-cables', re: /\bNVRM:.*\bnecessary power cables\b/i, description: 'the GPU lacks its auxiliary power', severity: 'critical' },
  {
    id: 'gsp-rpc-rate-limited',
    re: /\bNVRM:.*\bRate limiting GSP RPC error prints\b/i,
    description: 'GSP RPC errors are being rate limited; the GPU likely needs a reset',
    severity: 'warning',
  },
  { id: 'peermem-error', re: /\bnvidia[-_]peermem\b.*\bERROR\b/, description: 'nvidia-peermem (GPUDirect RDMA) reported an error', severity: 'warning' },
];

/** The driver condition a message shows, or null. */
export function matchDriverMessage(text: string): DriverMessage | null {
  for (const d of DRIVER_MESSAGES) if (d.re.test(text)) return d;
  return null;
}
