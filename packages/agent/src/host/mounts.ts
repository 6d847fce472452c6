import { statfsSync } from 'node:fs';
import { join } from 'node:path';

/** One line of /proc/self/mounts. */
export interface MountEntry {
  device: string;
  mount: string;
  fsType: string;
}

/** Size of a mounted filesystem in bytes. */
export interface FsUsage {
  totalBytes: number;
  usedBytes: number;
}

/** Reads a mounted filesystem's size; null when it cannot be read. */
export type StatFs = (mountPath: string) => FsUsage | null;

/**
 * Filesystems that hold data an operator cares about. An allow-list rather than a deny-list:
 * kernels keep adding pseudo filesystems (cgroup2, bpf, tracefs, ...) and each would otherwise
 * show up as a "disk". overlay and squashfs are left out on purpose: container layers and snaps
 * repeat space that the real filesystem under them already reports.
 */
const REAL_FS_TYPES = new Set([
  'ext2',
  'ext3',
  'ext4',
  'xfs',
  'btrfs',
  'bcachefs',
  'zfs',
  'f2fs',
  'jfs',
  'reiserfs',
  'vfat',
  'exfat',
  'ntfs',
  'ntfs3',
  'fuseblk',
  'hfsplus',
  'nfs',
  'nfs4',
  'cifs',
  'smb3',
  'ceph',
  'glusterfs',
  'lustre',
  'gpfs',
  'beegfs',
  'fuse.juicefs',
]);

/** Undoes the octal escapes the kernel writes for space, tab, newline and backslash. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/mounts (fstab format); malformed lines are skipped. */
export function parseMounts(text: string | null): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || !fields[1]!.startsWith('/')) continue;
    out.push({ device: unescapeMountField(fields[0]!), mount: unescapeMountField(fields[1]!), fsType: fields[2]! });
  }
  return out;
}

/**
 * Keeps real filesystems, one mount per device: bind mounts (a container's /etc/hosts, btrfs
 * subvolumes) would otherwise count the same space several times. Of the mounts of one device
 * the shortest path wins, so a host shows `/` rather than `/etc/hostname`.
 */
export function realFilesystems(entries: MountEntry[]): MountEntry[] {
  const byDevice = new Map<string, MountEntry>();
  for (const entry of entries) {
    if (!REAL_FS_TYPES.has(entry.fsType)) continue;
    const seen = byDevice.get(entry.device);
    if (!seen || entry.mount.length < seen.mount.length) byDevice.set(entry.device, entry);
  }
  return [...byDevice.values()].sort((a, b) => a.mount.localeCompare(b.mount));
}

/**
 * statfs of `mount` seen below `rootDir`. Synchronous on purpose (one syscall per mount per
 * sample); note that a hung NFS server can block it, as it blocks `df`.
 */
export function statfsBelow(rootDir: string): StatFs {
  return (mount) => {
    try {
      const s = statfsSync(join(rootDir, mount));
      const totalBytes = s.blocks * s.bsize;
      const usedBytes = Math.max(0, (s.blocks - s.bfree) * s.bsize);
      return Number.isFinite(totalBytes) && Number.isFinite(usedBytes) ? { totalBytes, usedBytes } : null;
    } catch {
      return null;
    }
  };
}
