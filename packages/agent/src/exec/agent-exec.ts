import { SIMULATED_OS_ID, builtinLabels, gpuInfoOf, type GpuInfo, type GpuSnapshot, type HostFacts, type Labels } from '@gpufleet/protocol';
import type { Clock } from '../runtime/clock.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import type { Logger } from '../runtime/logger.js';
import type { AgentStateStore } from '../runtime/state.js';
import { CommandHandler } from './command-handler.js';
import { CommandRunner, type CommandRunnerLike } from './command-runner.js';
import { loadContainerOp } from './container-loader.js';
import type { ContainerOpFn } from './container-run.js';
import type { ProcessIdentity } from './run-as.js';
import { TrustStore } from './trust-store.js';

/** How the agent runs verified commands. */
export interface ExecOptions {
  /** Runs argv, shell and script commands. Default: a CommandRunner (real processes). */
  runner?: CommandRunnerLike;
  /** Output kept per run. Default 1 MiB. */
  outputCapBytes?: number;
  /** The container engine's API socket (Docker or Podman). */
  containerSocketPath?: string;
  /** The container operation. Default: runContainerOp from containers/, loaded on first use. */
  containerOp?: () => Promise<ContainerOpFn>;
  /** Who the agent runs as, for run-as checks. Default: this process (tests inject another). */
  self?: ProcessIdentity;
  /** False refuses every command (`gpufleet-agent run --commands off`). Default true. */
  commandsEnabled?: boolean;
}

/**
 * The labels a host vouches for: the built-in ones computed from its own facts exactly as the
 * server computes them (builtinLabels), over the labels it asked for at join. Selectors in
 * signed commands and capabilities are matched against these, never against labels the server
 * claims the node has: a stolen server could claim anything to widen a selector, so selectors
 * can only rely on labels the host itself can vouch for. Without host facts: the join labels.
 */
export function vouchedHostLabels(facts: HostFacts | null, snapshots: readonly GpuSnapshot[], joinLabels: Readonly<Record<string, string>>): Labels {
  if (!facts) return { ...joinLabels };
  const gpus: GpuInfo[] = [];
  for (const s of snapshots) {
    try {
      gpus.push(gpuInfoOf(s));
    } catch {
      // A snapshot that does not match the protocol is not in the inventory either.
    }
  }
  return { ...joinLabels, ...builtinLabels(facts, gpus, facts.os.id === SIMULATED_OS_ID) };
}

/** Builds an agent's command handler over its state store (the trust log lives there). */
export function createAgentExec(o: {
  state: AgentStateStore;
  /** The fleet roots from the join token. */
  joinRoots: readonly string[];
  options?: ExecOptions;
  enqueue: (e: NewAgentEvent, critical: boolean) => unknown;
  hostLabels: () => Labels;
  clock: Clock;
  logger: Logger;
}): CommandHandler {
  const trust = new TrustStore({ state: o.state, joinRoots: o.joinRoots, logger: o.logger, clock: o.clock });
  return new CommandHandler({
    trust,
    runner: o.options?.runner ?? new CommandRunner({ outputCapBytes: o.options?.outputCapBytes, self: o.options?.self }),
    enqueue: o.enqueue,
    hostLabels: o.hostLabels,
    clock: o.clock,
    logger: o.logger,
    outputCapBytes: o.options?.outputCapBytes,
    containerOp: o.options?.containerOp ?? loadContainerOp,
    containerSocketPath: o.options?.containerSocketPath,
    self: o.options?.self,
    commandsEnabled: o.options?.commandsEnabled ?? true,
  });
}
