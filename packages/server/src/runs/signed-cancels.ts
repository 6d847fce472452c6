import { DEFAULT_SKEW_MS, FleetError, SignedCancel, SignedCommand, cancelProblem, commandDeadline } from '@gpufleet/protocol';
import type { Store } from '../store/store.js';
import type { FrameSender } from './run-scheduler.js';

/** The setting that keeps the signed cancels still being carried, so a restart does not lose them. */
export const SIGNED_CANCELS_SETTING = 'runs.signed-cancels';
/** Signed cancels carried at most (each lives until its command's deadline, at most 7 days and a bit). */
const MAX_PENDING = 10_000;

/** One operator-signed cancel the server still hands to the run's hosts. */
interface PendingCancel {
  signed: SignedCancel;
  /** Every target of the run: each hears about it now if connected, else when it reconnects. */
  nodes: ReadonlySet<string>;
  /** After this (the cancel's `until`) the command is past its deadline on every host: nothing left to stop. */
  until: number;
}

/**
 * The signed cancels of runs (issue 9, item 4). The server cannot forge them, only carry them: each
 * is sent to every target of its run now and again whenever a target's session becomes ready, until
 * the command's own deadline. A host remembers it and refuses the command if it arrives later (for
 * instance from a server that lost the cancel), and stops it if it runs. Kept in one setting of the
 * store (save after add, restore at start), so a server restart does not lose them.
 */
export class SignedCancels {
  private readonly pending = new Map<string, PendingCancel>();

  constructor(
    private readonly gateway: FrameSender,
    private readonly store: Pick<Store, 'getSetting' | 'setSetting' | 'getRun' | 'listRunTargets'>,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Checks that `value` is a valid signed cancel of exactly this command (run id and nonce) and
   * starts delivering it to `nodes`. Throws FleetError('invalid_argument') naming what is wrong.
   * Who signed it is for the hosts to judge (the invoker or a fleet root); it must verify, though.
   */
  add(command: SignedCommand, value: unknown, nodes: Iterable<string>): SignedCancel {
    const problem = cancelProblem(value);
    if (problem !== null) throw new FleetError('invalid_argument', problem);
    const signed = value as SignedCancel;
    const p = command.payload;
    if (signed.payload.runId !== p.runId || signed.payload.nonce !== p.nonce) {
      throw new FleetError(
        'invalid_argument',
        `the signed cancel names run ${signed.payload.runId} with another nonce or id than run ${p.runId}: sign a cancel of this run`,
      );
    }
    // Past the command's deadline (and the hosts' skew) no host starts it: no need to carry the cancel longer.
    const entry: PendingCancel = { signed, nodes: new Set(nodes), until: Math.min(signed.payload.until, commandDeadline(p) + DEFAULT_SKEW_MS) };
    this.pending.delete(p.runId);
    this.pending.set(p.runId, entry);
    while (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
    for (const nodeId of entry.nodes) this.send(nodeId, signed);
    return signed;
  }

  /** Writes every carried cancel to the store (call after add, before answering). */
  async save(): Promise<void> {
    await this.store.setSetting(SIGNED_CANCELS_SETTING, JSON.stringify([...this.pending.values()].map((e) => e.signed)));
  }

  /**
   * Takes up the cancels saved before a restart whose command is not past its deadline: each is
   * checked again and carried to its run's targets as they connect. Returns how many.
   */
  async restore(now: number, warn: (msg: string) => void): Promise<number> {
    let saved: unknown;
    try {
      saved = JSON.parse((await this.store.getSetting(SIGNED_CANCELS_SETTING)) ?? '[]');
    } catch {
      warn('the saved signed cancels are not JSON; none restored');
      return 0;
    }
    let n = 0;
    for (const item of Array.isArray(saved) ? saved : []) {
      const signed = SignedCancel.safeParse(item);
      if (!signed.success || signed.data.payload.until < now) continue;
      const runId = signed.data.payload.runId;
      const record = await this.store.getRun(runId);
      const command = SignedCommand.safeParse(record?.command);
      if (!command.success) continue;
      try {
        const targets = (await this.store.listRunTargets(runId)).map((t) => t.nodeId);
        if (commandDeadline(command.data.payload) + DEFAULT_SKEW_MS < now) continue;
        this.add(command.data, signed.data, targets);
        n++;
      } catch (err) {
        warn(`a saved signed cancel of run ${runId} was not restored: ${(err as Error).message}`);
      }
    }
    return n;
  }

  /** The signed cancel of a run, if one was given. */
  get(runId: string): SignedCancel | undefined {
    return this.pending.get(runId)?.signed;
  }

  /** A host's session is ready: it hears about every cancel meant for it. Call before any command goes out. */
  onSessionReady(nodeId: string): void {
    for (const entry of this.pending.values()) if (entry.nodes.has(nodeId)) this.send(nodeId, entry.signed);
  }

  /** Forgets cancels whose command is past its deadline everywhere. */
  prune(now: number): void {
    for (const [runId, entry] of this.pending) if (entry.until < now) this.pending.delete(runId);
  }

  private send(nodeId: string, signed: SignedCancel): void {
    this.gateway.sendToNode(nodeId, { t: 'cancel', body: { runId: signed.payload.runId, signed } });
  }
}
