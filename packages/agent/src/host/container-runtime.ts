import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { HostFacts } from '@gpufleet/protocol';

export type ContainerRuntime = NonNullable<HostFacts['containerRuntime']>;

/** Where Docker and Podman put their API sockets, in the order they are tried. */
export function runtimeSocketCandidates(env: NodeJS.ProcessEnv): ContainerRuntime[] {
  const out: ContainerRuntime[] = [
    { name: 'docker', socket: '/run/docker.sock' },
    { name: 'docker', socket: '/var/run/docker.sock' },
    { name: 'podman', socket: '/run/podman/podman.sock' },
  ];
  const xdg = env.XDG_RUNTIME_DIR;
  // Rootless Podman keeps its socket in the user's runtime dir; a relative value is not one.
  if (xdg?.startsWith('/')) out.push({ name: 'podman', socket: join(xdg, 'podman/podman.sock') });
  return out;
}

/**
 * The first container engine whose API socket exists below `rootDir`, or null. Only a real
 * socket counts: a stale regular file of that name is not an engine.
 */
export function detectContainerRuntime(rootDir: string, env: NodeJS.ProcessEnv): ContainerRuntime | null {
  for (const candidate of runtimeSocketCandidates(env)) {
    try {
      if (statSync(join(rootDir, candidate.socket)).isSocket()) return candidate;
    } catch {
      // Missing or unreadable: try the next one.
    }
  }
  return null;
}
