import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Recorded outputs (shared fixtures) the fake vendor tools print, as the simulator's fake tools do. */
export const FIXTURES = process.env.GPUFLEET_FIXTURES ?? '/work/shared/fixtures';
export const NVIDIA_XML = join(FIXTURES, 'nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml');
export const NPU_SMI_INFO = join(FIXTURES, 'huawei', 'npu-smi_info__2x_910B4_with_process_section_npu-smi-25.5.2.txt');

/**
 * Writes fake `nvidia-smi` (and optionally `npu-smi`) into `dir`: they print the recorded
 * fixture for the arguments the agent's first pass uses and fail like the real tool otherwise.
 * Put `dir` first on the session's PATH.
 */
export function writeFakeGpuTools(dir: string, opts: { npu?: boolean; nvidiaFails?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  const nvidia = opts.nvidiaFails
    ? '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running." >&2\nexit 9\n'
    : `#!/bin/sh\nif [ "$1 $2" = "-q -x" ]; then cat '${NVIDIA_XML}'; exit 0; fi\necho "unsupported: $*" >&2\nexit 2\n`;
  writeFileSync(join(dir, 'nvidia-smi'), nvidia);
  chmodSync(join(dir, 'nvidia-smi'), 0o755);
  if (opts.npu) {
    writeFileSync(join(dir, 'npu-smi'), `#!/bin/sh\nif [ "$1" = "info" ]; then cat '${NPU_SMI_INFO}'; exit 0; fi\nexit 2\n`);
    chmodSync(join(dir, 'npu-smi'), 0o755);
  }
  return dir;
}
