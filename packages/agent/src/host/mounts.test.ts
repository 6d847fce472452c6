import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMounts, realFilesystems, statfsBelow } from './mounts.js';

// A GPU host running Docker: pseudo filesystems, cgroups, overlay layers, bind mounts, NFS.
const MOUNTS = `proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334524k 0 0
tmpfs /dev/shm tmpfs rw,relatime 0 0
/dev/nvme0n1p2 / ext4 rw,relatime 0 0
/dev/nvme0n1p1 /boot/efi vfat rw,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0
/dev/md0 /data xfs rw,relatime 0 0
/dev/md0 /var/lib/docker/volumes/x xfs rw,relatime 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,lowerdir=/a 0 0
overlay /var/lib/docker/overlay2/def/merged overlay rw,lowerdir=/b 0 0
/dev/loop3 /snap/core/123 squashfs ro 0 0
nas:/export/models /mnt/my\\040models nfs4 rw,vers=4.2 0 0
tank/datasets /tank/datasets zfs rw,xattr 0 0
garbage
only two
`;

describe('parseMounts', () => {
  it('reads device, mount point and type, undoing octal escapes', () => {
    const entries = parseMounts(MOUNTS);
    expect(entries).toHaveLength(14);
    expect(entries.find((e) => e.fsType === 'nfs4')).toEqual({ device: 'nas:/export/models', mount: '/mnt/my models', fsType: 'nfs4' });
  });

  it('survives missing and garbage input', () => {
    expect(parseMounts(null)).toEqual([]);
    expect(parseMounts('\n\n x y\nnone relative ext4 rw 0 0')).toEqual([]);
  });
});

describe('realFilesystems', () => {
  it('keeps data filesystems once per device, under the shortest mount point', () => {
    expect(realFilesystems(parseMounts(MOUNTS))).toEqual([
      { device: '/dev/nvme0n1p2', mount: '/', fsType: 'ext4' },
      { device: '/dev/nvme0n1p1', mount: '/boot/efi', fsType: 'vfat' },
      { device: '/dev/md0', mount: '/data', fsType: 'xfs' },
      { device: 'nas:/export/models', mount: '/mnt/my models', fsType: 'nfs4' },
      { device: 'tank/datasets', mount: '/tank/datasets', fsType: 'zfs' },
    ]);
  });

  it('prefers / over a bind-mounted file of the same device seen first (containers)', () => {
    const text = '/dev/vda /etc/hostname ext4 rw 0 0\n/dev/vda / ext4 rw 0 0\n/dev/vda /etc/hosts ext4 rw 0 0\n';
    expect(realFilesystems(parseMounts(text))).toEqual([{ device: '/dev/vda', mount: '/', fsType: 'ext4' }]);
  });
});

describe('statfsBelow', () => {
  it('reads a real directory and gives null for a missing one', () => {
    const root = mkdtempSync(join(tmpdir(), 'gpufleet-statfs-'));
    try {
      const usage = statfsBelow(root)('/');
      expect(usage).not.toBeNull();
      expect(usage!.totalBytes).toBeGreaterThan(0);
      expect(usage!.usedBytes).toBeLessThanOrEqual(usage!.totalBytes);
      expect(statfsBelow(root)('/does/not/exist')).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
