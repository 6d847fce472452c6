import type { ProviderErrorKind, ProviderSpec } from '@gpufleet/protocol';

/**
 * The one small interface every capacity source implements (issue 11): a cloud (aws, lambda),
 * existing machines over SSH (ssh), or simulated hosts (sim). Each adapter is one file in this
 * folder (sim's lives in the sim package, which the server cannot import). Adapters map every
 * failure to a ProviderError of the closed list in PROVIDER_ERROR_KINDS.
 */
export interface CloudProvider {
  readonly name: string;
  readonly type: ProviderSpec['type'];
  /**
   * Starts one instance that will enroll with `joinToken`. Idempotent per `operationId`: asked
   * again with the same id (a server that crashed mid-call), it returns the instance it started
   * the first time instead of starting a second (AWS ClientToken, a tag, or the provider's own
   * record). Resolves once the provider accepted the request, not when the host joined.
   */
  provision(req: ProvisionRequest): Promise<ProviderInstance>;
  /** Ends an instance. An instance that is already gone is not an error. */
  terminate(instanceId: string): Promise<void>;
  /** The instances this provider started for gpufleet (tagged with a pool), in any state. */
  list(): Promise<ProviderInstance[]>;
  /** What it knows of instance types: GPUs, price, zones with capacity now. Unknown types are left out. */
  describe(instanceTypes: string[]): Promise<InstanceTypeInfo[]>;
  /** Releases connections and timers; sim hosts stop. */
  close(): Promise<void>;
}

export interface ProvisionRequest {
  /** The pool operation asking: the idempotency key and a tag on the instance. */
  operationId: string;
  pool: string;
  instanceType: string;
  /** The zone to try; null: the provider chooses. */
  zone: string | null;
  /** Image where the provider has images (AWS AMI); null: the provider's default. */
  image: string | null;
  /** Single-use join token minted for this provision. */
  joinToken: string;
  /** cloud-init user data that installs and starts the agent with the token (providers with user data). */
  userData: string;
  /** Labels the node will carry; providers with tags tag the instance with them too. */
  labels: Record<string, string>;
}

export interface ProviderInstance {
  id: string;
  pool: string | null;
  operationId: string | null;
  instanceType: string;
  zone: string | null;
  state: 'pending' | 'running' | 'stopping' | 'terminated';
  /** Address, where the provider reports one. */
  address: string | null;
  launchedAt: number;
  /** $/h as the provider reports it; null: unknown. */
  pricePerHour: number | null;
}

export interface InstanceTypeInfo {
  instanceType: string;
  gpus: number;
  gpuModel: string | null;
  pricePerHour: number | null;
  /** Zones or regions reported to have capacity now; null: the provider does not say. */
  zonesWithCapacity: string[] | null;
}

/** A provider failure of one of the closed kinds; `retryAfterMs` when the provider said when to come back. */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly details: { zone?: string; status?: number; code?: string; retryAfterMs?: number } = {},
  ) {
    super(message);
  }
  /** Whether trying the same call again later can help. */
  get retryable(): boolean {
    return this.kind === 'transient';
  }
}

/** What a provider adapter is built from. */
export interface ProviderContext {
  name: string;
  /** GPUFLEET_MASTER_KEY: seals credentials the adapter keeps (ssh). null: none set; adapters that need it refuse. */
  masterKey: string | null;
  /** Small persistent state of this provider (pinned host keys, sealed credentials, which host is in use). */
  state: ProviderStateStore;
  /** Environment to read secrets from (api_key_env); process.env in the server. */
  env: Record<string, string | undefined>;
  /** The folder relative paths of the pools file resolve against. */
  baseDir: string;
  clock: { now(): number };
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/** Key-value state of one provider (store table provider_state). Values are JSON. */
export interface ProviderStateStore {
  get(key: string): Promise<unknown | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  list(): Promise<Array<{ key: string; value: unknown }>>;
}

/** Builds a provider of one type; the server's set of these is a declared dependency (refs.providerFactories). */
export type ProviderFactory = (spec: ProviderSpec, ctx: ProviderContext) => CloudProvider;
export type ProviderFactories = Partial<Record<ProviderSpec['type'], ProviderFactory>>;
