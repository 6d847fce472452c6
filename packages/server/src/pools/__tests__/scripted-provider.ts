import type { ProviderSpec } from '@gpufleet/protocol';
import {
  ProviderError,
  type CloudProvider,
  type InstanceTypeInfo,
  type ProviderFactory,
  type ProviderInstance,
  type ProvisionRequest,
} from '../providers/cloud-provider.js';

/** What happens once an instance is accepted: its host enrolls now, when the test says, or never. */
export type JoinMode = 'auto' | 'manual' | 'never';

interface CloudInstance extends ProviderInstance {
  request: ProvisionRequest;
}

/**
 * A scripted cloud for pool manager tests (the one mock: a cloud cannot exist here). Instances
 * live in memory; zones can be full; the next calls can fail with given errors; provision can be
 * held open after the instance exists (a server that stops mid-call); and each accepted instance
 * may enroll its host through the real enrollment service with the minted token, so the node
 * really appears in the registry. Idempotent per operation id, as adapters must be.
 */
export class ScriptedCloud {
  readonly instances = new Map<string, CloudInstance>();
  readonly provisionCalls: ProvisionRequest[] = [];
  readonly terminateCalls: string[] = [];
  listCalls = 0;
  zonesFull = new Set<string>();
  /** Errors the next provision calls throw, in order. */
  failNext: ProviderError[] = [];
  joinMode: JoinMode = 'auto';
  /** When set, provision waits for it after the instance exists (and before it answers). */
  gate: Promise<void> | null = null;
  private seq = 0;

  constructor(
    private readonly enroll: (req: ProvisionRequest, instanceId: string) => Promise<string>,
    private readonly info: InstanceTypeInfo = {
      instanceType: 'sim.h100x8',
      gpus: 8,
      gpuModel: 'NVIDIA H100 80GB HBM3',
      pricePerHour: 20,
      zonesWithCapacity: null,
    },
  ) {}

  readonly factory: ProviderFactory = (spec: ProviderSpec, ctx) => this.provider(ctx.name, spec.type);

  /** Instances not terminated. */
  running(): CloudInstance[] {
    return [...this.instances.values()].filter((i) => i.state !== 'terminated');
  }

  /** Enrolls the host of an instance now (joinMode manual). */
  join(instanceId: string): Promise<string> {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new Error(`no instance ${instanceId}`);
    return this.enroll(inst.request, inst.id);
  }

  private provider(name: string, type: ProviderSpec['type']): CloudProvider {
    return {
      name,
      type,
      provision: async (req) => {
        this.provisionCalls.push(req);
        const existing = [...this.instances.values()].find((i) => i.operationId === req.operationId);
        if (existing) return existing;
        const error = this.failNext.shift();
        if (error) throw error;
        if (req.zone !== null && this.zonesFull.has(req.zone)) {
          throw new ProviderError('capacity', `InsufficientInstanceCapacity: no ${req.instanceType} in ${req.zone}`, { zone: req.zone });
        }
        const inst: CloudInstance = {
          id: `i-${String(++this.seq).padStart(4, '0')}`,
          pool: req.pool,
          operationId: req.operationId,
          instanceType: req.instanceType,
          zone: req.zone,
          state: 'running',
          address: null,
          launchedAt: Date.now(),
          pricePerHour: this.info.pricePerHour,
          request: req,
        };
        this.instances.set(inst.id, inst);
        if (this.gate) await this.gate;
        if (this.joinMode === 'auto') await this.enroll(req, inst.id);
        return inst;
      },
      terminate: async (id) => {
        this.terminateCalls.push(id);
        const inst = this.instances.get(id);
        if (inst) inst.state = 'terminated';
      },
      list: async () => {
        this.listCalls++;
        return [...this.instances.values()];
      },
      describe: async (types) => (types.includes(this.info.instanceType) ? [this.info] : []),
      close: async () => {},
    };
  }
}
