import type { RunTargetState, RunTargetView, SignedCommand } from '@gpufleet/protocol';
import type { RunService } from '../runs/run-service.js';

/** What the agent hosts' part of a play needs of the command fan-out. */
export type PlayRuns = Pick<RunService, 'submit' | 'get' | 'output' | 'cancel'>;

export interface AgentPartHost {
  nodeId: string;
  hostname: string;
  command: SignedCommand;
}

export interface AgentPartOptions {
  runs: PlayRuns;
  /** Who the runs are recorded as started by (the play's creator, through the play). */
  actor: string;
  hosts: AgentPartHost[];
  /** Hosts per batch (the play's serial, resolved); every host at once when null. */
  batchSize: number | null;
  /** Stop after a batch where more than this share failed (null: go on). */
  maxFailPercentage: number | null;
  /** One whole line of the host's stdout (ansible's JSON lines) or stderr. */
  onLine: (hostname: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** The host's run ended: how, and why when it did not succeed. */
  onHostEnd: (hostname: string, state: RunTargetState, detail: string | null) => void;
  note: (message: string) => void;
  pollMs?: number;
}

const FINAL: ReadonlySet<RunTargetState> = new Set(['succeeded', 'failed', 'timed_out', 'canceled', 'unreachable', 'refused']);

/** `serial` (5 or 25%) as a batch size for `total` hosts; at least 1. */
export function batchSizeOf(serial: string | null, total: number): number | null {
  if (serial === null) return null;
  if (serial.endsWith('%')) return Math.max(1, Math.floor((total * Number(serial.slice(0, -1))) / 100));
  return Math.max(1, Number(serial));
}

/**
 * The agent hosts' part of a play: each host's signed command goes out as its own run (only to
 * that node), in batches like Ansible's `serial`; each host's output is read back as lines while it
 * runs. A batch with too many failures stops the rest, as max_fail_percentage does for SSH hosts.
 */
export class AgentPlayPart {
  private readonly active = new Map<string, { host: AgentPartHost; after: number | undefined; partial: Record<'stdout' | 'stderr', string> }>();
  private stopped = false;

  constructor(private readonly o: AgentPartOptions) {}

  /** Asks every host still working on its part to stop; no further batch starts. */
  stop(): void {
    this.stopped = true;
    for (const runId of this.active.keys()) void this.o.runs.cancel(runId, this.o.actor).catch(() => undefined);
  }

  /** Runs the batches; resolves with the hosts that did not succeed (or never started). */
  async run(): Promise<{ failed: string[]; notStarted: string[] }> {
    const size = this.o.batchSize ?? this.o.hosts.length;
    const failed: string[] = [];
    for (let start = 0; start < this.o.hosts.length; start += size) {
      if (this.stopped) return { failed, notStarted: this.o.hosts.slice(start).map((h) => h.hostname) };
      const batch = this.o.hosts.slice(start, start + size);
      const before = failed.length;
      failed.push(...(await this.runBatch(batch)));
      const share = ((failed.length - before) / batch.length) * 100;
      const rest = this.o.hosts.slice(start + size);
      if (this.o.maxFailPercentage !== null && share > this.o.maxFailPercentage && rest.length > 0) {
        this.o.note(
          `agent hosts: ${failed.length - before} of ${batch.length} failed in this batch, over max_fail_percentage ${this.o.maxFailPercentage}: ${rest.length} host(s) not started`,
        );
        return { failed, notStarted: rest.map((h) => h.hostname) };
      }
    }
    return { failed, notStarted: [] };
  }

  private async runBatch(batch: AgentPartHost[]): Promise<string[]> {
    const failed: string[] = [];
    for (const host of batch) {
      try {
        const submitted = await this.o.runs.submit({ command: host.command }, this.o.actor, host.nodeId);
        this.active.set(submitted.id, { host, after: undefined, partial: { stdout: '', stderr: '' } });
      } catch (err) {
        failed.push(host.hostname);
        this.o.onHostEnd(host.hostname, 'refused', `not sent: ${(err as Error).message}`);
      }
    }
    if (this.stopped) this.stop();
    const pollMs = this.o.pollMs ?? 250;
    while (this.active.size > 0) {
      await new Promise((r) => setTimeout(r, pollMs));
      for (const [runId, entry] of [...this.active]) {
        await this.drain(runId, entry);
        const target = (await this.o.runs.get(runId)).targets?.find((t) => t.nodeId === entry.host.nodeId);
        if (!target || !FINAL.has(target.state)) continue;
        await this.drain(runId, entry);
        for (const stream of ['stdout', 'stderr'] as const) {
          if (entry.partial[stream] !== '') this.o.onLine(entry.host.hostname, stream, entry.partial[stream]);
        }
        this.active.delete(runId);
        if (target.state !== 'succeeded') failed.push(entry.host.hostname);
        this.o.onHostEnd(entry.host.hostname, target.state, detailOf(target));
      }
    }
    return failed;
  }

  /** Reads the output stored since the last read, line by line. */
  private async drain(runId: string, entry: { host: AgentPartHost; after: number | undefined; partial: Record<'stdout' | 'stderr', string> }): Promise<void> {
    for (;;) {
      const page = await this.o.runs.output({ runId, ...(entry.after === undefined ? {} : { after: entry.after }), limit: 500 });
      for (const item of page.items) {
        entry.after = item.id;
        if (item.stream !== 'stdout' && item.stream !== 'stderr') continue;
        const text = entry.partial[item.stream] + item.data;
        const lines = text.split('\n');
        entry.partial[item.stream] = lines.pop() ?? '';
        for (const line of lines) this.o.onLine(entry.host.hostname, item.stream, line);
      }
      if (page.next === null) return;
    }
  }
}

function detailOf(t: RunTargetView): string | null {
  if (t.state === 'succeeded') return null;
  if (t.reason) return t.reason;
  if (t.state === 'failed') return t.signal ? `ended by ${t.signal}` : `exit code ${t.exitCode}`;
  return t.state.replace('_', ' ');
}
