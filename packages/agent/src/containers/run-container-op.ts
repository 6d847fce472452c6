import { FleetError, type CommandSpec } from '@gpufleet/protocol';
import { EngineClient, type ContainerSummary } from './engine-client.js';

/** A verified `container` command (the runner has checked signature, chain and ability). */
export type ContainerCommandSpec = Extract<CommandSpec, { kind: 'container' }>;

/** Where a container operation writes; `signal` aborts it (cancel, timeout). */
export interface ContainerOpIo {
  onOutput(stream: 'stdout' | 'stderr', data: string): void;
  signal: AbortSignal;
}

/** Which engine to talk to; default: the first engine socket found on the host. */
export interface ContainerOpOptions {
  socketPath?: string;
}

/** One line of `ls` output: the CLI parses these from stdout. */
export type ContainerListLine = Pick<ContainerSummary, 'id' | 'name' | 'image' | 'state' | 'status' | 'created'>;

const PAST: Record<'restart' | 'stop' | 'start', string> = { restart: 'restarted', stop: 'stopped', start: 'started' };
const ALREADY: Record<'stop' | 'start', string> = { stop: 'was not running', start: 'was already running' };

/**
 * Runs one container operation on this host and reports like a process would: output lines on
 * stdout/stderr, then an exit code. Abilities (payload.ability, enforced by the command runner;
 * see abilityForContainerOp): ls and logs need container/logs, restart container/restart, stop
 * container/stop, start container/start.
 *
 * - ls: one JSON line per container (id, name, image, state, status, created epoch ms); exit 0.
 * - logs: the container's lines on the stream they were written to, until the log ends or, with
 *   follow, until `io.signal` aborts (that is the normal end of a follow: exit 0).
 * - restart | stop | start: one result line on stdout; exit 0 (also when nothing had to change).
 * Any error (unknown container, no engine, engine failure) is one `error: ...` line on stderr, exit 1.
 */
export async function runContainerOp(spec: ContainerCommandSpec, io: ContainerOpIo, opts: ContainerOpOptions): Promise<{ exitCode: number }> {
  const client = new EngineClient({ socketPath: opts.socketPath });
  const { signal } = io;
  try {
    switch (spec.op) {
      case 'ls': {
        const containers = await client.list({ all: true, signal });
        for (const c of containers) {
          const line: ContainerListLine = { id: c.id, name: c.name, image: c.image, state: c.state, status: c.status, created: c.created };
          io.onOutput('stdout', `${JSON.stringify(line)}\n`);
        }
        return { exitCode: 0 };
      }
      case 'logs': {
        for await (const line of client.logs(spec.container, { follow: spec.follow, tail: spec.tail, sinceMs: spec.sinceMs, signal })) {
          io.onOutput(line.stream, `${line.text}\n`);
        }
        return { exitCode: 0 };
      }
      case 'restart':
      case 'stop':
      case 'start': {
        // Resolve the reference once, so the action and the report name the same container.
        const target = await client.inspect(spec.container, { signal });
        const result = await client[spec.op](target.id, { signal });
        const who = `${target.name || spec.container} (${target.id.slice(0, 12)})`;
        const text = result.changed || spec.op === 'restart' ? `${PAST[spec.op]} ${who}` : `${who} ${ALREADY[spec.op]}`;
        io.onOutput('stdout', `${text}\n`);
        return { exitCode: 0 };
      }
      default: {
        const op: never = spec.op;
        throw new FleetError('invalid_argument', `unknown container operation: ${String(op)}`);
      }
    }
  } catch (err) {
    const message = signal.aborted ? 'canceled' : err instanceof Error ? err.message : String(err);
    io.onOutput('stderr', `error: ${message}\n`);
    return { exitCode: 1 };
  }
}
