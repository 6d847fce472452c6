import { normalizePciBusId, type ToolFailure } from '@gpufleet/protocol';

const TOOL = 'nvidia-smi';
const MAX_MESSAGE = 4096;

interface Rule {
  /** Matched against each output line on its own (trimmed), so a value like `Fan Speed : Unknown Error` never matches. */
  pattern: RegExp;
  message: (m: RegExpExecArray) => string;
}

// nvidia-smi prints these instead of its report when the driver or a GPU is broken. Rules
// are anchored to whole lines: the same words can appear as field values in a healthy report.
const RULES: Rule[] = [
  {
    pattern: /^NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/i,
    message: () => 'NVIDIA driver not loaded: nvidia-smi could not communicate with the NVIDIA driver',
  },
  {
    pattern: /^Failed to initialize NVML: Driver\/library version mismatch/i,
    message: () =>
      'NVIDIA driver/library version mismatch: the loaded kernel module differs from the user-space driver (reboot or reload the module after a driver upgrade)',
  },
  {
    pattern: /^NVIDIA-SMI couldn't find libnvidia-ml\.so/i,
    message: () => 'NVML library (libnvidia-ml.so) not found: the NVIDIA user-space driver is not installed',
  },
  {
    pattern: /^Failed to initialize NVML: (.+)$/i,
    message: (m) => `NVML failed to initialize: ${m[1]!.trim()}`,
  },
  {
    pattern: /^Unable to determine the device handle for GPU\s*([0-9A-Fa-f:.]+):\s*GPU is lost/i,
    message: (m) => `GPU ${busId(m[1]!)} is lost (fallen off the bus); reboot the system to recover it`,
  },
  {
    pattern: /^Unable to determine the device handle for GPU\s*([0-9A-Fa-f:.]+):\s*(.+)$/i,
    message: (m) => `GPU ${busId(m[1]!)} is unreachable: ${m[2]!.trim()}`,
  },
  {
    pattern: /^No devices were found$/i,
    message: () => 'no NVIDIA GPUs found (none visible to nvidia-smi)',
  },
  {
    pattern: /^Field "([^"]+)" is not a valid field to query/i,
    message: (m) => `nvidia-smi does not know the query field "${m[1]}" (driver too old for it)`,
  },
  {
    pattern: /^Unknown Error$/i,
    message: () => 'nvidia-smi failed with "Unknown Error"',
  },
];

/**
 * Recognises a broken driver, a lost GPU or a refused query in nvidia-smi's output (stdout and
 * stderr together) and says so in one line. Returns null for a normal run: exit code 0 and no
 * such message. A non-zero exit or a missing exit code (killed by a signal) with unrecognised
 * output is still a failure, quoting the start of the output.
 */
export function classifyNvidiaSmiFailure(output: string, exitCode: number | null): ToolFailure | null {
  const text = typeof output === 'string' ? output : '';
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const messages: string[] = [];
  for (const line of lines) {
    for (const rule of RULES) {
      const m = rule.pattern.exec(line);
      if (m) {
        const message = rule.message(m);
        if (!messages.includes(message)) messages.push(message);
        break;
      }
    }
  }
  if (messages.length > 0) return failure(messages.join('; '), exitCode);
  if (exitCode === 0) return null;
  const head = lines.slice(0, 3).join(' | ');
  const how = exitCode === null ? 'ended without an exit code (killed?)' : `exited with code ${exitCode}`;
  return failure(head === '' ? `nvidia-smi ${how} and printed nothing` : `nvidia-smi ${how}: ${head}`, exitCode);
}

function failure(message: string, exitCode: number | null): ToolFailure {
  const safeCode = exitCode !== null && Number.isInteger(exitCode) ? exitCode : null;
  const clipped = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
  return { vendor: 'nvidia', tool: TOOL, message: clipped, exitCode: safeCode };
}

function busId(raw: string): string {
  return normalizePciBusId(raw) ?? raw;
}
