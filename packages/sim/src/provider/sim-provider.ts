import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJoinToken, SIM_INSTANCE_DEFAULTS, type ProviderErrorKind, type ProviderSpec, type SimProviderSpec } from '@gpufleet/protocol';
import { errorText, silentLogger, type Logger } from '@gpufleet/agent';
import type { CloudProvider, InstanceTypeInfo, ProviderContext, ProviderError, ProviderFactory, ProviderInstance, ProvisionRequest } from '@gpufleet/server';
import { startSimFleet, type SimFleet, type SimFleetOptions } from '../fleet.js';
import { SIM_GPU_MODELS, type SimGpuModel } from '../gpu-models.js';
import { hashString, mulberry32 } from '../prng.js';
import { SimProviderHosts } from './sim-provider-hosts.js';

export interface SimProviderOptions {
  /**
   * Where started hosts are registered, so scenarios and benchmarks can inject faults into
   * them; share one between the providers of a server. Default: each provider keeps its own.
   */
  hosts?: SimProviderHosts;
  /**
   * Route each host through its own TCP proxy, so `terminate` switches the machine off (its
   * connection dies with no close frame) and the fault injector can crash agents and cut links.
   * Default true; false saves two sockets per host (an agent then closes cleanly on terminate).
   */
  linkProxy?: boolean;
  /** Agent log of the hosts. Default silent. */
  logger?: Logger;
  agentVersion?: string;
  /**
   * Folder of the hosts' fake kernel logs, `<dir>/<provider>/<hostname>.log`, kept after close:
   * another process (a test, an operator) can write driver lines there as the kernel would.
   * Default a temporary folder removed on close.
   */
  kernelLogDir?: string;
  /** How often a host's agent reads its fake kernel log. Default the agent's. */
  kernelLogPollMs?: number;
  agentOptions?: SimFleetOptions['agentOptions'];
}

interface SimInstance {
  view: ProviderInstance;
  hostname: string;
  bootTimer: NodeJS.Timeout | null;
  /** The host's start (enroll + agent), while it runs. */
  booting: Promise<void> | null;
  fleet: SimFleet | null;
  switchedOff: boolean;
}

/**
 * The `sim` provider: each provision "boots" for `bootMs`, then starts one simulated host (the
 * real agent on fake hardware) that enrolls with the provision's single-use join token, so it
 * gets its pool labels through the token like a cloud instance would. A seeded share of
 * provisions is refused with a capacity error. Terminate switches the machine off.
 */
export class SimProvider implements CloudProvider {
  readonly type = 'sim' as const;
  readonly name: string;
  readonly hosts: SimProviderHosts;
  private readonly instances = new Map<string, SimInstance>();
  private readonly byOperation = new Map<string, string>();
  /** Refused provisions per operation: each retry draws again. */
  private readonly refusals = new Map<string, number>();
  private readonly linkProxy: boolean;
  private readonly logger: Logger;
  private kernelDir: string | null = null;
  private closed = false;

  constructor(
    private readonly spec: SimProviderSpec,
    private readonly ctx: ProviderContext,
    private readonly o: SimProviderOptions = {},
  ) {
    this.name = ctx.name;
    this.hosts = o.hosts ?? new SimProviderHosts({ seed: spec.seed });
    this.linkProxy = o.linkProxy ?? true;
    this.logger = o.logger ?? silentLogger;
  }

  async provision(req: ProvisionRequest): Promise<ProviderInstance> {
    if (this.closed) throw await providerError('transient', `sim provider ${this.name} is closed`);
    const known = this.byOperation.get(req.operationId);
    const existing = known === undefined ? undefined : this.instances.get(known);
    if (existing) return { ...existing.view };

    const type = this.spec.instanceTypes[req.instanceType] ?? SIM_INSTANCE_DEFAULTS;
    const model = simModel(type.gpuModel);
    if (!model)
      throw await providerError(
        'invalid',
        `sim provider ${this.name}: instance type ${req.instanceType} has GPU model '${type.gpuModel}', which the simulator does not have (one of ${SIM_GPU_MODELS.join(', ')})`,
      );
    try {
      decodeJoinToken(req.joinToken);
    } catch (err) {
      throw await providerError('invalid', `sim provider ${this.name}: the join token of operation ${req.operationId} is not one: ${errorText(err)}`);
    }
    if (this.refuses(req)) {
      throw await providerError(
        'capacity',
        `sim provider ${this.name}: no capacity for ${req.instanceType}${req.zone ? ` in ${req.zone}` : ''} (simulated refusal, fail rate ${this.spec.failRate})`,
        req.zone ? { zone: req.zone } : {},
      );
    }

    const id = `sim-${createHash('sha256').update(`${this.name}:${req.operationId}`).digest('hex').slice(0, 12)}`;
    const instance: SimInstance = {
      view: {
        id,
        pool: req.pool,
        operationId: req.operationId,
        instanceType: req.instanceType,
        zone: req.zone,
        state: 'pending',
        address: null,
        launchedAt: this.ctx.clock.now(),
        pricePerHour: type.pricePerHour,
      },
      hostname: `${req.pool}-${id.slice(4)}`,
      bootTimer: null,
      booting: null,
      fleet: null,
      switchedOff: false,
    };
    this.instances.set(id, instance);
    this.byOperation.set(req.operationId, id);
    instance.bootTimer = setTimeout(() => {
      instance.bootTimer = null;
      instance.booting = this.boot(instance, req, model, type.gpus);
    }, this.spec.bootMs);
    return { ...instance.view };
  }

  async terminate(instanceId: string): Promise<void> {
    const instance = this.instances.get(instanceId);
    if (!instance) return;
    this.instances.delete(instanceId);
    if (instance.view.operationId !== null) this.byOperation.delete(instance.view.operationId);
    await this.switchOff(instance);
  }

  async list(): Promise<ProviderInstance[]> {
    return [...this.instances.values()].map((i) => ({ ...i.view }));
  }

  async describe(instanceTypes: string[]): Promise<InstanceTypeInfo[]> {
    return instanceTypes.flatMap((t) => {
      const type = this.spec.instanceTypes[t];
      return type ? [{ instanceType: t, gpus: type.gpus, gpuModel: type.gpuModel, pricePerHour: type.pricePerHour, zonesWithCapacity: null }] : [];
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.instances.values()];
    this.instances.clear();
    this.byOperation.clear();
    await Promise.all(all.map((i) => this.switchOff(i)));
    if (this.kernelDir && this.o.kernelLogDir === undefined) rmSync(this.kernelDir, { recursive: true, force: true });
    this.kernelDir = null;
  }

  /** Seeded per provider seed, operation, zone and try: the same calls are refused on every run. */
  private refuses(req: ProvisionRequest): boolean {
    if (this.spec.failRate <= 0) return false;
    const tries = this.refusals.get(req.operationId) ?? 0;
    const draw = mulberry32(hashString(`${String(this.spec.seed)}:${req.operationId}:${req.zone ?? ''}:${tries}`))();
    if (draw >= this.spec.failRate) return false;
    this.refusals.set(req.operationId, tries + 1);
    return true;
  }

  /** The machine is up: its agent enrolls with the token and starts. A refused enrollment leaves it up and never joined (the pool's join timeout ends it). */
  private async boot(instance: SimInstance, req: ProvisionRequest, model: SimGpuModel, gpus: number): Promise<void> {
    this.kernelDir ??= this.kernelLogFolder();
    try {
      const fleet = await startSimFleet({
        token: req.joinToken,
        count: 1,
        hostnames: [instance.hostname],
        seed: `${String(this.spec.seed)}:${instance.view.id}`,
        mix: { [model]: 1 },
        gpuCount: gpus,
        agentVersion: this.o.agentVersion ?? 'sim-provider',
        logger: this.logger,
        kernelLog: { dir: this.kernelDir, ...(this.o.kernelLogPollMs ? { pollMs: this.o.kernelLogPollMs } : {}) },
        linkProxy: this.linkProxy,
        workloads: this.hosts.workloads,
        startSpreadMs: 0,
        ...(this.o.agentOptions ? { agentOptions: this.o.agentOptions } : {}),
      });
      if (instance.switchedOff) {
        await fleet.stop();
        return;
      }
      instance.fleet = fleet;
      instance.view.state = 'running';
      await fleet.started;
      const host = fleet.agents[0]!;
      this.hosts.add({
        instanceId: instance.view.id,
        provider: this.name,
        pool: req.pool,
        operationId: req.operationId,
        hostname: instance.hostname,
        nodeId: host.nodeId,
        fleet,
        startedAt: this.ctx.clock.now(),
      });
    } catch (err) {
      if (!instance.switchedOff) instance.view.state = 'running';
      this.ctx.log.warn({ instance: instance.view.id, host: instance.hostname, err: errorText(err) }, 'simulated host booted but could not join');
    }
  }

  private kernelLogFolder(): string {
    if (this.o.kernelLogDir === undefined) return mkdtempSync(join(tmpdir(), `gpufleet-sim-${this.name}-`));
    const dir = join(this.o.kernelLogDir, this.name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Switched off: the agent dies without a goodbye (with link proxies) and what ran there dies with it. */
  private async switchOff(instance: SimInstance): Promise<void> {
    instance.switchedOff = true;
    instance.view.state = 'terminated';
    if (instance.bootTimer) clearTimeout(instance.bootTimer);
    instance.bootTimer = null;
    await instance.booting;
    const fleet = instance.fleet;
    instance.fleet = null;
    if (!fleet) return;
    if (this.linkProxy) await fleet.crashAgent(instance.hostname).catch(() => undefined);
    await fleet.stop();
    const killed = this.hosts.workloads.powerOff(instance.hostname);
    this.hosts.remove(instance.view.id, this.ctx.clock.now(), killed);
  }
}

/** The simulator's model for a spec's GPU model name (any case); null when it has none such. */
function simModel(name: string): SimGpuModel | null {
  return SIM_GPU_MODELS.find((m) => m.toLowerCase() === name.trim().toLowerCase()) ?? null;
}

/** The server's ProviderError, loaded when first needed so importing the simulator does not load the server. */
async function providerError(kind: ProviderErrorKind, message: string, details: ConstructorParameters<typeof ProviderError>[2] = {}): Promise<ProviderError> {
  const { ProviderError: ProviderErrorClass } = await import('@gpufleet/server');
  return new ProviderErrorClass(kind, message, details);
}

/** A factory of sim providers whose hosts go into `o.hosts` (scenarios, benchmarks). */
export function makeSimProviderFactory(o: SimProviderOptions = {}): ProviderFactory {
  return (spec: ProviderSpec, ctx: ProviderContext) => {
    if (spec.type !== 'sim') throw new TypeError(`the sim provider factory was given a ${spec.type} provider (${ctx.name})`);
    return new SimProvider(spec, ctx, o);
  };
}

/** The `sim` provider for `startServer({ providers: { sim } })`: each provider keeps its own hosts. */
export const simProviderFactory: ProviderFactory = makeSimProviderFactory();
