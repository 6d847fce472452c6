import { bundleContainerName, FleetError, PINNED_IMAGE, type BundleContainer } from '@gpufleet/protocol';
import { containerRef, type EngineClient } from '../containers/engine-client.js';
import { createContainer, execInContainer, pullImage, removeContainer } from '../containers/workload-engine.js';

/** Labels every bundle container carries: which bundle, which version of it, which of its containers. */
export const BUNDLE_LABEL = 'gpufleet.bundle';
export const BUNDLE_VERSION_LABEL = 'gpufleet.bundle.version';
export const BUNDLE_CONTAINER_LABEL = 'gpufleet.bundle.container';

/** What a bundle needs to know of a container on the host. */
export interface BundleContainerState {
  id: string;
  /** The image the container was created from, as the engine's image id (sha256:...). */
  imageId: string;
  running: boolean;
  status: string;
  env: string[];
  cmd: string[];
  labels: Record<string, string>;
}

const digestOf = (ref: string): string => ref.slice(ref.lastIndexOf('@') + 1);

/**
 * The Docker Engine API calls of a bundle, over the agent's EngineClient (socket detection,
 * deadlines, FleetErrors) and the workload engine's create/remove/pull/exec.
 */
export class BundleEngine {
  constructor(readonly client: EngineClient) {}

  /**
   * The local image id of a pinned reference (`repo@sha256:...`), or null when no local image has
   * that manifest digest. The engine's answer is checked: the image's RepoDigests must hold the
   * digest. (Podman finds a digest under any repository name, Docker only under its own; the
   * digest names the content, the repository only where a pull fetches it from.)
   */
  async imageId(ref: string): Promise<string | null> {
    if (!PINNED_IMAGE.test(ref)) throw new FleetError('invalid_argument', `not an image pinned by digest: ${ref.slice(0, 100)}`);
    let raw: { Id?: unknown; RepoDigests?: unknown };
    try {
      // Through the modem: dockerode's image inspect does not pass an abort signal on.
      raw = await this.client.request(
        (d, abortSignal) =>
          new Promise<typeof raw>((resolve, reject) =>
            d.modem.dial(
              { path: `/images/${ref}/json`, method: 'GET', abortSignal, statusCodes: { 200: true, 404: 'no such image', 500: 'server error' } } as never,
              (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as typeof raw)),
            ),
          ),
      );
    } catch (err) {
      if (err instanceof FleetError && err.code === 'not_found') return null;
      throw err;
    }
    const digests = Array.isArray(raw?.RepoDigests) ? raw.RepoDigests.filter((d): d is string => typeof d === 'string') : [];
    if (!digests.some((d) => digestOf(d) === digestOf(ref))) return null;
    return typeof raw.Id === 'string' ? raw.Id : null;
  }

  /** The image id of `ref`, pulling it by digest when it is not here yet. */
  async ensureImage(ref: string): Promise<string> {
    const have = await this.imageId(ref);
    if (have) return have;
    await pullImage(this.client, ref, undefined, 30 * 60_000);
    const pulled = await this.imageId(ref);
    if (!pulled) throw new FleetError('not_found', `pulled ${ref}, but the engine holds no image with that digest`);
    return pulled;
  }

  /** The container of that name, or null when there is none. */
  async container(name: string): Promise<BundleContainerState | null> {
    let raw: {
      Id?: unknown;
      Image?: unknown;
      State?: { Running?: unknown; Status?: unknown };
      Config?: { Env?: unknown; Cmd?: unknown; Labels?: unknown };
    };
    try {
      raw = (await this.client.request((d, abortSignal) => d.getContainer(containerRef(name)).inspect({ abortSignal }))) as typeof raw;
    } catch (err) {
      if (err instanceof FleetError && err.code === 'not_found') return null;
      throw err;
    }
    const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
    const labels = raw.Config?.Labels && typeof raw.Config.Labels === 'object' ? (raw.Config.Labels as Record<string, string>) : {};
    return {
      id: String(raw.Id ?? ''),
      imageId: String(raw.Image ?? ''),
      running: raw.State?.Running === true,
      status: String(raw.State?.Status ?? ''),
      env: strings(raw.Config?.Env),
      cmd: strings(raw.Config?.Cmd),
      labels,
    };
  }

  /** Creates and starts a bundle's container (any container of that name must be gone). */
  async run(bundle: string, version: string, c: BundleContainer): Promise<string> {
    const name = bundleContainerName(bundle, c.name);
    const id = await createContainer(this.client, name, {
      Image: c.image,
      ...(c.command ? { Cmd: [...c.command] } : {}),
      Env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
      Labels: { [BUNDLE_LABEL]: bundle, [BUNDLE_VERSION_LABEL]: version, [BUNDLE_CONTAINER_LABEL]: c.name },
      HostConfig: { RestartPolicy: { Name: c.restart } },
    });
    await this.client.start(id);
    return id;
  }

  /** Removes a container by name, running or not; an absent one is fine. */
  remove(name: string): Promise<void> {
    return removeContainer(this.client, name);
  }

  /** Runs `argv` in the container; its exit code, or null when it did not end within the timeout. */
  async exec(name: string, argv: readonly string[], timeoutMs: number): Promise<number | null> {
    return (await execInContainer(this.client, name, argv, timeoutMs)).exitCode;
  }
}
