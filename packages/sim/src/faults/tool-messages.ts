import { FleetError } from '@gpufleet/protocol';

/**
 * What nvidia-smi prints when the driver or a GPU is broken, verbatim from
 * shared/fixtures/nvidia/nvidia-smi_error_outputs.txt (each observed in a public report).
 * `{pci}` stands for the failing GPU's address, printed as nvidia-smi does (`0000:0B:00.0`).
 */
export const NVIDIA_TOOL_FAILURES = {
  /** Driver not loaded, or the kernel module cannot be reached. */
  'no-driver':
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
  /** User-space library and kernel module of different versions (upgrade without a reboot). */
  'driver-mismatch': 'Failed to initialize NVML: Driver/library version mismatch',
  /** One GPU dead or off the bus: the whole invocation fails. */
  'device-handle': 'Unable to determine the device handle for GPU {pci}: Unknown Error',
  /** A lost GPU that needs a reboot. */
  'gpu-lost': 'Unable to determine the device handle for GPU {pci}: GPU is lost. Reboot the system to recover this GPU',
  /** No GPU visible at all. */
  'no-devices': 'No devices were found',
} as const;
export type NvidiaToolFailure = keyof typeof NVIDIA_TOOL_FAILURES;
export const NVIDIA_TOOL_FAILURE_KINDS = Object.keys(NVIDIA_TOOL_FAILURES) as NvidiaToolFailure[];

export function isNvidiaToolFailure(text: string): text is NvidiaToolFailure {
  return Object.hasOwn(NVIDIA_TOOL_FAILURES, text);
}

/** The tool's message for a failure kind, with the GPU's address filled in where it names one. */
export function toolFailureMessage(kind: NvidiaToolFailure, pciBusId: string | null): string {
  const template: string = NVIDIA_TOOL_FAILURES[kind];
  if (!template.includes('{pci}')) return template;
  if (!pciBusId) throw new FleetError('invalid_argument', `the '${kind}' tool failure names a GPU: give one`);
  return template.replace('{pci}', pciBusId.toUpperCase());
}
