import type Docker from 'dockerode';
import { FleetError } from '@gpufleet/protocol';
import { containerRef, type EngineClient } from './engine-client.js';
import { MuxFrameDecoder } from './log-frames.js';

/**
 * The engine calls workloads need beyond EngineClient's (create, wait, exec, remove, pull, find
 * by label), over the same client: same socket detection, deadlines and FleetErrors.
 */

/** What a container of a workload is created with (the Docker Engine API's create body). */
export interface ContainerCreateBody {
  Image: string;
  Cmd?: string[];
  Env: string[];
  Labels: Record<string, string>;
  HostConfig: Record<string, unknown>;
}

/** A labelled container as `find` returns it. */
export interface FoundContainer {
  id: string;
  name: string;
  state: string;
  labels: Record<string, string>;
}

function dial<T>(docker: Docker, options: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => docker.modem.dial(options as never, (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as T))));
}

/** `docker` or `podman`: they differ in how they take CDI devices. Unknown engines count as Docker. */
export async function engineKind(client: EngineClient, signal?: AbortSignal): Promise<'docker' | 'podman'> {
  const v = await client.request(
    (d, abortSignal) =>
      dial<{ Components?: { Name?: unknown }[] }>(d, { path: '/version', method: 'GET', abortSignal, statusCodes: { 200: true, 500: 'server error' } }),
    { signal },
  );
  const podman = (v?.Components ?? []).some((c) => typeof c.Name === 'string' && /podman/i.test(c.Name));
  return podman ? 'podman' : 'docker';
}

/** Creates a container; returns its id. The body goes in the request body only (dockerode would also put it in the URL). */
export async function createContainer(client: EngineClient, name: string, body: ContainerCreateBody, signal?: AbortSignal): Promise<string> {
  const reply = await client.request(
    (d, abortSignal) =>
      dial<{ Id?: unknown }>(d, {
        path: '/containers/create?',
        method: 'POST',
        options: { _query: { name: containerRef(name) }, _body: body },
        abortSignal,
        statusCodes: { 200: true, 201: true, 400: 'bad parameter', 404: 'no such image', 409: 'conflict', 500: 'server error' },
      }),
    { signal },
  );
  if (typeof reply?.Id !== 'string' || reply.Id === '') throw new FleetError('tool_failure', 'the container engine created a container but sent no id');
  return reply.Id;
}

/** Pulls an image (waits for the pull to finish); fails with the engine's message. */
export async function pullImage(client: EngineClient, image: string, signal?: AbortSignal, deadlineMs = 30 * 60_000): Promise<void> {
  await client.request(
    async (d, abortSignal) => {
      const stream = (await d.pull(image, { abortSignal })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) =>
        d.modem.followProgress(stream, (err: Error | null, events: { error?: string; errorDetail?: { message?: string } }[]) => {
          const failed = err ?? events.find((e) => e.error || e.errorDetail);
          if (!failed) resolve();
          else
            reject(
              new FleetError(
                'not_found',
                `could not pull ${image}: ${failed instanceof Error ? failed.message : (failed.errorDetail?.message ?? failed.error)}`,
              ),
            );
        }),
      );
    },
    { signal, deadlineMs },
  );
}

/** Waits until the container exits; its exit code. Only `signal` ends the wait early. */
export async function waitContainer(client: EngineClient, id: string, signal?: AbortSignal): Promise<number | null> {
  const reply = (await client.request((d, abortSignal) => d.getContainer(containerRef(id)).wait({ abortSignal }), {
    deadlineMs: Number.POSITIVE_INFINITY,
    signal,
  })) as {
    StatusCode?: unknown;
  };
  return typeof reply?.StatusCode === 'number' ? reply.StatusCode : null;
}

/** Removes a container, running or not, with its anonymous volumes; an absent one is fine. */
export async function removeContainer(client: EngineClient, id: string, signal?: AbortSignal): Promise<void> {
  try {
    await client.request((d, abortSignal) => d.getContainer(containerRef(id)).remove({ force: true, v: true, abortSignal }), { signal });
  } catch (err) {
    if (err instanceof FleetError && err.code === 'not_found') return;
    throw err;
  }
}

/** Containers (stopped ones too) carrying `label=value`. */
export async function findByLabel(client: EngineClient, label: string, value: string, signal?: AbortSignal): Promise<FoundContainer[]> {
  const list = (await client.request((d, abortSignal) => d.listContainers({ all: true, filters: { label: [`${label}=${value}`] }, abortSignal }), {
    signal,
  })) as unknown;
  if (!Array.isArray(list)) throw new FleetError('tool_failure', 'the container engine sent a container list that is not a list');
  return list.map((raw) => {
    const c = raw as { Id?: unknown; Names?: unknown; State?: unknown; Labels?: unknown };
    const names = Array.isArray(c.Names) ? c.Names.filter((n): n is string => typeof n === 'string') : [];
    const labels = c.Labels && typeof c.Labels === 'object' ? (c.Labels as Record<string, string>) : {};
    return { id: String(c.Id ?? ''), name: (names[0] ?? '').replace(/^\//, ''), state: String(c.State ?? ''), labels };
  });
}

/** The container's address on its network (the first one with an IP), or null (host network, none). */
export async function containerAddress(client: EngineClient, id: string, signal?: AbortSignal): Promise<string | null> {
  const raw = (await client.request((d, abortSignal) => d.getContainer(containerRef(id)).inspect({ abortSignal }), { signal })) as {
    NetworkSettings?: { IPAddress?: unknown; Networks?: Record<string, { IPAddress?: unknown }> };
  };
  const settings = raw?.NetworkSettings;
  if (typeof settings?.IPAddress === 'string' && settings.IPAddress !== '') return settings.IPAddress;
  for (const net of Object.values(settings?.Networks ?? {})) if (typeof net?.IPAddress === 'string' && net.IPAddress !== '') return net.IPAddress;
  return null;
}

/**
 * Runs a command in a running container and waits for it (the output is read and dropped: a
 * health check only needs the exit code). At the timeout the wait ends with exit code null;
 * the engine has no way to kill an exec'd process, so it may run on.
 */
export async function execInContainer(client: EngineClient, id: string, argv: readonly string[], timeoutMs: number): Promise<{ exitCode: number | null }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('timeout')), timeoutMs);
  try {
    return await client.request(
      async (d, abortSignal) => {
        const exec = await d.getContainer(containerRef(id)).exec({ Cmd: [...argv], AttachStdout: true, AttachStderr: true, abortSignal });
        const stream = (await exec.start({ Detach: false, abortSignal })) as NodeJS.ReadableStream;
        const decoder = new MuxFrameDecoder();
        await new Promise<void>((resolve, reject) => {
          stream.on('data', (chunk: Buffer) => {
            try {
              decoder.push(chunk);
            } catch {
              // The output is not needed; a frame we cannot read does not change the exit code.
            }
          });
          stream.once('end', resolve);
          stream.once('close', resolve);
          stream.once('error', reject);
        });
        const info = (await exec.inspect({ abortSignal })) as { ExitCode?: unknown };
        return { exitCode: typeof info.ExitCode === 'number' ? info.ExitCode : null };
      },
      { signal: controller.signal, deadlineMs: timeoutMs + 5000 },
    );
  } catch (err) {
    if (controller.signal.aborted) return { exitCode: null };
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
