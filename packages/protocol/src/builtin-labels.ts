import type { GpuInfo } from './gpu.js';
import type { HostFacts } from './host.js';

/**
 * Labels derived from a host's own inventory. The server computes them for selectors in the
 * API; the agent computes the very same ones from its own facts to check the selectors in
 * signed commands and capabilities (a host can vouch for these, not for labels a server says
 * it has). One pure function on both sides, so they agree.
 */

/** Keys derived from the inventory; operators cannot set them. */
export const BUILTIN_LABEL_KEYS = ['hostname', 'os', 'arch', 'gpu.vendor', 'gpu.model', 'gpu.product', 'gpu.count', 'gpu.memory', 'simulated'] as const;

/** The OS id `gpufleet sim` gives its hosts; such hosts are labelled `simulated=true`. */
export const SIMULATED_OS_ID = 'gpufleet-sim';

const VENDOR_WORDS = new Set(['nvidia', 'amd', 'intel', 'intel(r)', 'huawei', 'instinct', 'radeon', 'tesla', 'data', 'center', 'gpu', 'pro', 'graphics']);
const JOIN_NEXT = new Set(['rtx', 'geforce', 'quadro', 'titan', 'ascend', 'max', 'flex']);

/** Label-safe text: spaces and odd characters become '-'. */
export function labelSafe(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')
    .slice(0, 63);
}

/**
 * The short model people select by: "NVIDIA H100 80GB HBM3" -> H100, "NVIDIA A100-SXM4-40GB" -> A100,
 * "AMD Instinct MI300X" -> MI300X, "NVIDIA RTX 4000 SFF Ada Generation" -> RTX4000, "Ascend 910B4" -> Ascend910B4.
 */
export function shortGpuModel(name: string | null): string {
  if (!name) return 'unknown';
  // A fleet has a handful of models and lists ask for them per GPU (800,000 times for one GPU
  // list at 100,000 nodes): the answer is kept per name, in a bounded map.
  let short = shortModels.get(name);
  if (short === undefined) {
    short = shortGpuModelOf(name);
    if (shortModels.size >= SHORT_MODELS_KEPT) shortModels.clear();
    shortModels.set(name, short);
  }
  return short;
}

const SHORT_MODELS_KEPT = 1024;
const shortModels = new Map<string, string>();

function shortGpuModelOf(name: string): string {
  const words = name.split(/\s+/).filter((w) => w && !VENDOR_WORDS.has(w.toLowerCase()));
  if (words.length === 0) return labelSafe(name) || 'unknown';
  const first = words[0]!;
  if (JOIN_NEXT.has(first.toLowerCase()) && words[1]) return labelSafe(first + words[1].split('-')[0]);
  return labelSafe(first.split('-')[0]!) || 'unknown';
}

/** hostname, os, arch, gpu.count and, with GPUs, gpu.vendor/model/product/memory of the first GPU. */
export function builtinLabels(facts: Pick<HostFacts, 'hostname' | 'os' | 'arch'>, gpus: readonly GpuInfo[], simulated: boolean): Record<string, string> {
  const labels: Record<string, string> = {
    hostname: labelSafe(facts.hostname),
    os: labelSafe(facts.os.id || 'unknown'),
    arch: labelSafe(facts.arch),
    'gpu.count': String(gpus.length),
  };
  if (gpus.length > 0) {
    const first = gpus[0]!;
    labels['gpu.vendor'] = first.vendor;
    labels['gpu.model'] = shortGpuModel(first.name);
    if (first.name) labels['gpu.product'] = labelSafe(first.name);
    if (first.memoryTotalBytes) labels['gpu.memory'] = `${Math.round(first.memoryTotalBytes / 2 ** 30)}GiB`;
  }
  if (simulated) labels.simulated = 'true';
  return labels;
}
