// Child process of SimAgents (sim-agents.ts): many simulated hosts, each the real Agent (link,
// dial plan over the replica list of its join token, outbox, signature checks, command handler)
// on the simulator's fake hardware, in one process. Hosts are dealt round-robin over the given
// tokens (one fleet per token), so tokens whose replica URLs come in rotated orders spread the
// hosts over the replicas from the start. Commands run for real (`exec: 'real'`: each host has
// its own folder first on the PATH of its commands, `<toolsDir>/<hostname>`, so a command can
// leave a marker of its own) or are answered in-process like `echo` and `sleep` (`exec: 'sim'`,
// for thousands of hosts). Talks to the parent over IPC: `ready`, then answers `state` and `stop`.
import { startSimFleet, type SimFleet, type SimHost } from '@gpufleet/sim';

export interface SimAgentsConfig {
  /** Reusable join tokens; host i joins with tokens[i % tokens.length]. */
  tokens: string[];
  count: number;
  /** Hostnames are `<prefix>-<n>`, n from 1, four digits wide. */
  hostPrefix: string;
  seed: string;
  exec: 'real' | 'sim';
  /** With exec 'real': each host's PATH starts with `<toolsDir>/<hostname>`. */
  toolsDir?: string;
  gpuCount?: number;
  /** Enrollments in flight at once, per fleet. */
  concurrency?: number;
}

/** One host as the parent sees it. */
export interface SimAgentState {
  hostname: string;
  nodeId: string;
  link: string;
  /** The replica URL the link talks to (or dials next). */
  url: string;
  outbox: number;
  welcomes: number;
  dials: number;
  /** When the child saw the latest welcome (epoch ms, to 50 ms); 0 before the first. */
  lastWelcomeAt: number;
}

export type ChildMessage = { t: 'ready'; ms: number } | { t: 'error'; message: string } | { t: 'state'; id: number; hosts: SimAgentState[] };
export type ParentMessage = { t: 'state'; id: number } | { t: 'stop' };

/** The shape of the agent's RunRequest/RunHooks, as far as the echo stand-in reads them. */
interface EchoRequest {
  command: { kind: 'argv'; argv: readonly string[] } | { kind: string };
}
interface EchoHooks {
  onStart?: (pid: number | null) => void;
  onOutput: (chunk: { stream: 'stdout' | 'stderr'; chunk: number; data: string }) => void;
}

let fakePid = 100_000;
/**
 * Answers `echo ...` as echo would and `sleep S` as sleep would (a timer), without a process;
 * anything else exits 127 as a shell would.
 */
const echoRunner = {
  start(request: EchoRequest, hooks: EchoHooks) {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let finish: (canceled: boolean) => void = () => {};
    const done = new Promise((resolve) => {
      const c = request.command;
      const argv = c.kind === 'argv' ? (c as { argv: readonly string[] }).argv : [];
      const echo = argv[0] === 'echo';
      const sleepS = argv[0] === 'sleep' ? Number(argv[1]) : Number.NaN;
      const text = echo ? `${argv.slice(1).join(' ')}\n` : Number.isFinite(sleepS) ? '' : `${argv[0] ?? c.kind}: not simulated\n`;
      finish = (canceled) => {
        clearTimeout(timer);
        if (text !== '') hooks.onOutput({ stream: echo ? 'stdout' : 'stderr', chunk: 0, data: text });
        resolve({
          exitCode: canceled ? null : echo || Number.isFinite(sleepS) ? 0 : 127,
          signal: canceled ? 'SIGTERM' : null,
          timedOut: false,
          canceled,
          durationMs: Math.round(performance.now() - started),
          outputBytes: Buffer.byteLength(text),
          truncated: false,
        });
        finish = () => {};
      };
      queueMicrotask(() => {
        hooks.onStart?.(fakePid++);
        if (Number.isFinite(sleepS)) timer = setTimeout(() => finish(false), sleepS * 1000);
        else finish(false);
      });
    });
    return { done, cancel: () => finish(true) };
  },
};

/** Per host, the welcomes counted and when the count last went up (sampled every 50 ms). */
const welcomeSeen = new Map<SimHost, { count: number; at: number }>();
function sampleWelcomes(hosts: SimHost[]): void {
  const now = Date.now();
  for (const h of hosts) {
    const count = h.agent.linkStats?.welcomes ?? 0;
    const seen = welcomeSeen.get(h);
    if (!seen || seen.count !== count) welcomeSeen.set(h, { count, at: count === 0 ? 0 : now });
  }
}

function hostState(h: SimHost): SimAgentState {
  const link = (h.agent as unknown as { link: { currentUrl: string } | null }).link;
  const stats = h.agent.linkStats;
  return {
    lastWelcomeAt: welcomeSeen.get(h)?.at ?? 0,
    hostname: h.hostname,
    nodeId: h.nodeId,
    link: h.agent.linkState,
    url: link?.currentUrl ?? '',
    outbox: h.agent.outbox.size,
    welcomes: stats?.welcomes ?? 0,
    dials: stats?.dials ?? 0,
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as SimAgentsConfig;
  const send = (m: ChildMessage) => process.send!(m);
  const t0 = performance.now();
  const width = Math.max(4, String(config.count).length);
  const fleets: SimFleet[] = [];
  process.on('message', async (m: ParentMessage) => {
    if (m.t === 'state') {
      const hosts = fleets.flatMap((f) => f.agents);
      sampleWelcomes(hosts);
      send({ t: 'state', id: m.id, hosts: hosts.map(hostState) });
    }
    if (m.t === 'stop') {
      await Promise.allSettled(fleets.map((f) => f.stop()));
      process.exit(0);
    }
  });
  // A parent that dies (a crash, Ctrl-C) closes the IPC channel: go with it, never linger as an orphan.
  process.on('disconnect', () => process.exit(0));
  try {
    const groups = config.tokens.map((token, k) => {
      const hostnames: string[] = [];
      for (let i = k; i < config.count; i += config.tokens.length) hostnames.push(`${config.hostPrefix}-${String(i + 1).padStart(width, '0')}`);
      return { token, hostnames, seed: `${config.seed}:${k}` };
    });
    const started = await Promise.all(
      groups
        .filter((g) => g.hostnames.length > 0)
        .map((g) =>
          startSimFleet({
            token: g.token,
            count: g.hostnames.length,
            hostnames: g.hostnames,
            seed: g.seed,
            gpuCount: config.gpuCount ?? 8,
            agentVersion: '0.1.0-sim',
            concurrency: config.concurrency ?? 50,
            workloads: false,
            ...(config.exec === 'real' ? { tools: { dir: config.toolsDir! } } : { agentOptions: { exec: { runner: echoRunner } } as never }),
          }),
        ),
    );
    fleets.push(...started);
    const all = fleets.flatMap((f) => f.agents);
    setInterval(() => sampleWelcomes(all), 50).unref();
    await Promise.all(fleets.map((f) => f.started));
    send({ t: 'ready', ms: performance.now() - t0 });
  } catch (err) {
    send({ t: 'error', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}

await main();
