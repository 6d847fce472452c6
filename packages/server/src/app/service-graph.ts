import { FleetError } from '@gpufleet/protocol';
import type { AnyServiceDefinition } from './service-definition.js';
import type { ServiceRef } from './service-ref.js';
import { graphOrder } from './graph-order.js';

/** The lifecycle of the whole graph (DESIGN.md §8.4). */
export type Lifecycle = 'starting' | 'running' | 'draining' | 'stopped';

/** Where the graph reports a stop that failed (the rest still stop). */
export interface GraphLog {
  warn(obj: object, msg: string): void;
}

/** A service stop taking at least this long is reported. */
export const SLOW_STOP_MS = 2000;

interface Built {
  def: AnyServiceDefinition;
  value: unknown;
  started: boolean;
}

/**
 * The composition root's engine: services are registered with their dependencies, then
 * `start()` checks the graph (a missing dependency or a cycle refuses the boot, naming it),
 * builds and starts each service in dependency order, and `stop()` stops them in reverse,
 * each one draining before the ones it depends on stop. A start that fails stops what
 * already started, in reverse, and rethrows with the service's name.
 */
export class ServiceGraph {
  private readonly defs: AnyServiceDefinition[] = [];
  private readonly built = new Map<string, Built>();
  private order: string[] = [];
  private lifecycle: Lifecycle = 'starting';
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly log: GraphLog = { warn: () => undefined },
    private readonly slowStopMs = SLOW_STOP_MS,
  ) {}

  /** Adds services; only before start. */
  add(...defs: AnyServiceDefinition[]): this {
    if (this.order.length > 0 || this.lifecycle !== 'starting')
      throw new FleetError('failed_precondition', 'services can only be added before the graph starts');
    this.defs.push(...defs);
    return this;
  }

  state(): Lifecycle {
    return this.lifecycle;
  }

  /** The ids in the order they start (checks the graph; throws like start would). */
  plan(): string[] {
    return graphOrder(this.defs.map((d) => ({ id: d.provides.id, needs: Object.values(d.deps).map((r) => r.id) })));
  }

  /** Builds and starts every service in dependency order; lifecycle becomes 'running'. */
  async start(): Promise<void> {
    if (this.lifecycle !== 'starting' || this.order.length > 0)
      throw new FleetError('failed_precondition', `the service graph was started already (${this.lifecycle})`);
    this.order = this.plan();
    const byId = new Map(this.defs.map((d) => [d.provides.id, d]));
    for (const id of this.order) {
      const def = byId.get(id)!;
      const deps: Record<string, unknown> = {};
      for (const [name, ref] of Object.entries(def.deps)) deps[name] = this.built.get(ref.id)!.value;
      const entry: Built = { def, value: undefined, started: false };
      try {
        entry.value = await def.init(deps);
        this.built.set(id, entry);
        await def.start?.(entry.value);
        entry.started = true;
      } catch (err) {
        await this.stopAll();
        this.lifecycle = 'stopped';
        throw new FleetError(
          FleetError.is(err) ? err.code : 'internal',
          `service '${id}' failed to start: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err, details: { service: id } },
        );
      }
    }
    this.lifecycle = 'running';
  }

  /** A built service (after start); throws for a reference that is not part of the graph. */
  get<T>(ref: ServiceRef<T>): T {
    const entry = this.built.get(ref.id);
    if (!entry) throw new FleetError('not_found', `service '${ref.id}' is not built (not registered, or the graph has not started)`);
    return entry.value as T;
  }

  /** Stops every started service in reverse order; safe to call twice (the second waits). */
  stop(): Promise<void> {
    if (this.lifecycle === 'stopped') return Promise.resolve();
    this.stopping ??= (async () => {
      this.lifecycle = 'draining';
      await this.stopAll();
      this.lifecycle = 'stopped';
    })();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    for (const id of [...this.order].reverse()) {
      const entry = this.built.get(id);
      if (!entry?.started) continue;
      entry.started = false;
      const from = performance.now();
      // A stop that drags is what keeps a SIGTERM from ending the process: name it while it
      // drags (one that never ends is never reported after), and say how long it took.
      const dragging = setTimeout(() => this.log.warn({ service: id }, 'a service is slow to stop; still waiting for it'), this.slowStopMs);
      try {
        await entry.def.stop?.(entry.value);
        const ms = Math.round(performance.now() - from);
        if (ms >= this.slowStopMs) this.log.warn({ service: id, ms }, 'a service was slow to stop');
      } catch (err) {
        // One service failing to stop must not leave the ones it depends on running.
        this.log.warn({ service: id, err: err instanceof Error ? err.message : String(err) }, 'a service failed to stop');
      } finally {
        clearTimeout(dragging);
      }
    }
  }
}
