import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A PCI address as sysfs names it: `0000:3b:00.0` (domain, bus, device, function), lowercase. */
const BDF = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

/** `00000000:3B:00.0` (nvidia-smi's 8-digit domain) or `3b:00.0` -> `0000:3b:00.0`; null when it is not a PCI address. */
export function sysfsBdf(pciBusId: string): string | null {
  let id = pciBusId.trim().toLowerCase();
  if (/^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(id)) id = `0000:${id}`;
  const m = /^([0-9a-f]{4,8}):(.*)$/.exec(id);
  if (!m) return null;
  const normalized = `${m[1]!.slice(-4)}:${m[2]}`;
  return BDF.test(normalized) ? normalized : null;
}

/**
 * The DRM render node of a GPU (`/dev/dri/renderD129`): the `renderD*` entry of its PCI device
 * in sysfs (`/sys/bus/pci/devices/<bdf>/drm/`). That is the only reliable mapping: render nodes
 * are numbered in probe order across all vendors (an integrated GPU may hold renderD128). When
 * sysfs does not say, `/dev/dri/renderD<128 + index>`: right on hosts with one vendor's GPUs.
 */
export function renderNodeOf(gpu: { index: number; pciBusId: string | null }, sysRoot = '/'): string {
  const bdf = gpu.pciBusId ? sysfsBdf(gpu.pciBusId) : null;
  if (bdf) {
    try {
      const node = readdirSync(join(sysRoot, 'sys/bus/pci/devices', bdf, 'drm')).find((name) => /^renderD\d+$/.test(name));
      if (node) return `/dev/dri/${node}`;
    } catch {
      // No such device or no drm folder (driver not bound): fall back to the index.
    }
  }
  return `/dev/dri/renderD${128 + gpu.index}`;
}
