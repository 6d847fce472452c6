/**
 * PCI addresses appear as `00000000:17:00.0` (nvidia-smi), `0000:17:00.0` (sysfs, amd-smi),
 * `PCI:0000:17:00` (kernel XID lines) and `17:00.0` (short). They are keyed here in one
 * canonical form: 4-hex-digit domain, lower case, function included: `0000:17:00.0`.
 */
export function normalizePciBusId(raw: string | null | undefined): string | null {
  if (!raw) return null;
  let text = raw.trim().toLowerCase();
  if (text.startsWith('pci:')) text = text.slice(4);
  const m = /^(?:([0-9a-f]{1,8}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})(?:\.([0-7]))?$/.exec(text);
  if (!m) return null;
  const domain = (m[1] ?? '0').slice(-4).padStart(4, '0');
  return `${domain}:${m[2]!.padStart(2, '0')}:${m[3]!.padStart(2, '0')}.${m[4] ?? '0'}`;
}
