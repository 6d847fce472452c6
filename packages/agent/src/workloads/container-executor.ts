import { FleetError } from '@gpufleet/protocol';
import { EngineClient } from '../containers/engine-client.js';
import {
  containerAddress,
  createContainer,
  engineKind,
  execInContainer,
  findByLabel,
  pullImage,
  removeContainer,
  waitContainer,
} from '../containers/workload-engine.js';
import { containerGpuAccess, type EngineKind, type NvidiaPassthrough } from './container-gpu-access.js';
import { ALLOC_LABEL, containerCreateBody, containerName } from './container-spec.js';
import type { AdoptOptions, ExecutorGpu, ExecutorStart, RunningWorkload, WorkloadExecutor, WorkloadExit } from './executor.js';

type OutputSink = (stream: 'stdout' | 'stderr', data: string) => void;

export interface ContainerExecutorOptions {
  /** The engine's API socket. Default: the first Docker or Podman socket found on the host. */
  socketPath?: string;
  /** How NVIDIA GPUs are passed (see NvidiaPassthrough). Default: by engine. */
  nvidia?: NvidiaPassthrough;
  /** Skip asking the engine what it is. */
  engine?: EngineKind;
  /** A GPU's DRM render node (tests). Default: sysfs. */
  renderNode?: (gpu: ExecutorGpu) => string;
}

/** After the container exits, how long its log stream may take to deliver the last lines. */
const LOG_DRAIN_MS = 2000;

/**
 * Runs `container` allocations through the Docker Engine API (Docker, or Podman's compatible
 * API): create with the spec's image, command, env and limits, labelled with the allocation,
 * its GPUs passed the way each vendor expects (container-gpu-access.ts); start; stream its log;
 * stop with the grace period (the engine's stop with t seconds: SIGTERM, then SIGKILL);
 * cleanup removes it. A restart replaces the container. After an agent restart, adopt finds
 * the container by its `gpufleet.alloc` label.
 */
export class ContainerExecutor implements WorkloadExecutor {
  readonly kind = 'container' as const;
  private readonly client: EngineClient;
  private engine: Promise<EngineKind> | null = null;

  constructor(private readonly o: ContainerExecutorOptions = {}) {
    this.client = new EngineClient({ socketPath: o.socketPath });
  }

  async start(s: ExecutorStart, onOutput: OutputSink): Promise<RunningWorkload> {
    // An earlier instance of this allocation (a restart) is replaced, never run beside it.
    await this.cleanup(s.allocId);
    const access = containerGpuAccess(s.gpus, { engine: await this.engineKind(), nvidia: this.o.nvidia, renderNode: this.o.renderNode });
    const body = containerCreateBody(s, access);
    const name = containerName(s.allocId);
    let id: string;
    try {
      id = await createContainer(this.client, name, body);
    } catch (err) {
      // No such image: pull it once, then create again.
      if (!(err instanceof FleetError && err.code === 'not_found')) throw err;
      await pullImage(this.client, body.Image);
      id = await createContainer(this.client, name, body);
    }
    try {
      await this.client.start(id);
    } catch (err) {
      await removeContainer(this.client, id).catch(() => undefined);
      throw err;
    }
    return ContainerWorkload.watch(this.client, id, onOutput, undefined);
  }

  async adopt(allocId: string, onOutput: OutputSink, opts: AdoptOptions = {}): Promise<RunningWorkload | null> {
    const found = await findByLabel(this.client, ALLOC_LABEL, allocId);
    const mine = found.find((c) => c.labels[ALLOC_LABEL] === allocId);
    return mine ? ContainerWorkload.watch(this.client, mine.id, onOutput, opts.sinceMs) : null;
  }

  async cleanup(allocId: string): Promise<void> {
    for (const c of await findByLabel(this.client, ALLOC_LABEL, allocId)) {
      if (c.labels[ALLOC_LABEL] === allocId) await removeContainer(this.client, c.id);
    }
  }

  private engineKind(): Promise<EngineKind> {
    if (this.o.engine) return Promise.resolve(this.o.engine);
    this.engine ??= engineKind(this.client).catch((err: unknown) => {
      this.engine = null;
      throw err;
    });
    return this.engine;
  }
}

/** One container being watched: its log followed, its exit awaited. */
class ContainerWorkload implements RunningWorkload {
  readonly exited: Promise<WorkloadExit>;
  private readonly watching = new AbortController();
  private logsDone: Promise<void> = Promise.resolve();

  private constructor(
    private readonly client: EngineClient,
    readonly id: string,
    readonly checkAddress: string | null,
    onOutput: OutputSink,
    sinceMs: number | undefined,
  ) {
    this.logsDone = this.follow(onOutput, sinceMs);
    this.exited = this.waitForExit();
  }

  static async watch(client: EngineClient, id: string, onOutput: OutputSink, sinceMs: number | undefined): Promise<ContainerWorkload> {
    const address = await containerAddress(client, id).catch(() => null);
    return new ContainerWorkload(client, id, address, onOutput, sinceMs);
  }

  async stop(graceMs: number): Promise<WorkloadExit> {
    try {
      await this.client.stop(this.id, { stopTimeoutS: Math.max(0, Math.ceil(graceMs / 1000)) });
    } catch (err) {
      // Gone already: the wait below reports how it ended.
      if (!(err instanceof FleetError && err.code === 'not_found')) throw err;
    }
    return this.exited;
  }

  execCheck(argv: readonly string[], timeoutMs: number): Promise<{ exitCode: number | null }> {
    return execInContainer(this.client, this.id, argv, timeoutMs);
  }

  detach(): void {
    this.watching.abort();
  }

  private async follow(onOutput: OutputSink, sinceMs: number | undefined): Promise<void> {
    try {
      for await (const line of this.client.logs(this.id, { follow: true, sinceMs, signal: this.watching.signal })) onOutput(line.stream, `${line.text}\n`);
    } catch (err) {
      onOutput('stderr', `[gpufleet-agent: the container's log stream failed: ${(err as Error)?.message ?? String(err)}]\n`);
    }
  }

  /**
   * The container's exit code once it exits. A wait cut short by the engine (restarted, socket
   * hiccup) is retried while the container still runs; a container that vanished ends with no
   * code. Never resolves once detached.
   */
  private async waitForExit(): Promise<WorkloadExit> {
    let pause = 500;
    for (;;) {
      try {
        const code = await waitContainer(this.client, this.id, this.watching.signal);
        await Promise.race([this.logsDone, new Promise((r) => setTimeout(r, LOG_DRAIN_MS))]);
        return { exitCode: code, signal: null };
      } catch (err) {
        if (this.watching.signal.aborted) return new Promise<WorkloadExit>(() => undefined);
        if (err instanceof FleetError && err.code === 'not_found') return { exitCode: null, signal: null };
        try {
          const d = await this.client.inspect(this.id);
          if (!d.state.running) return { exitCode: d.state.exitCode, signal: null };
        } catch (inspectErr) {
          if (inspectErr instanceof FleetError && inspectErr.code === 'not_found') return { exitCode: null, signal: null };
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 5000);
      }
    }
  }
}
