import type { CommandSpec, RunTargetState, RunTargetView, RunView } from '@gpufleet/protocol';

// The protocol package's index pulls in node:crypto, so the browser takes the pure module of
// `containers ls` parsing from its source file directly (the CLI uses the same one).
import { labelSafe } from '../../../protocol/src/builtin-labels.js';
import { hostSelector } from '../../../protocol/src/container-list.js';
export { abilityForContainerOp } from '../../../protocol/src/remote-ops-rules.js';
export { hostSelector, parseListOutput, StreamByHost } from '../../../protocol/src/container-list.js';
export type { ContainerRow, OutputPiece } from '../../../protocol/src/container-list.js';

/** A container command's spec, as the signer takes it. */
export type ContainerSpec = Extract<CommandSpec, { kind: 'container' }>;
export type ContainerAction = 'restart' | 'stop' | 'start';

/** POST /api/v1/runs answer. */
export interface SubmittedRun {
  id: string;
  state: RunView['state'];
  targets: Array<{ nodeId: string; hostname: string; batch: number; state: RunTargetState }>;
}

/** Time limits the host enforces: short for one-off operations, an hour for a live tail (as the CLI). */
export const CONTAINER_OP_TIMEOUT_MS = 60_000;
export const LOG_TAIL_TIMEOUT_MS = 3_600_000;
/** Lines a live tail asks for before following, and the most it keeps in memory. */
export const LOG_TAIL_LINES = 200;
export const LOG_LINE_LIMIT = 5_000;

/** The spec of a live tail: the last LOG_TAIL_LINES lines, then new ones as they come. */
export function logTailSpec(container: string): ContainerSpec {
  return { kind: 'container', op: 'logs', container, follow: true, tail: LOG_TAIL_LINES };
}

/** What the operator sees for the CLI: the same operations from a terminal. */
export function cliHints(hostname: string): string[] {
  // The CLI takes a selector for `ls` and NODE/CONTAINER for the rest; both name the host by its label.
  const host = labelSafe(hostname);
  return [`gpufleet containers ls -l ${hostSelector(hostname)}`, `gpufleet containers logs ${host}/NAME -f`, `gpufleet containers restart ${host}/NAME`];
}

// ---- a bounded log --------------------------------------------------------------------------

export type LogStream = 'stdout' | 'stderr' | 'truncated';

export interface LogLine {
  /** Unique within one log: the key React renders it by. */
  id: number;
  stream: LogStream;
  text: string;
}

/** A live log kept to its last `limit` lines; `dropped` counts the lines let go from the top. */
export interface LogState {
  lines: LogLine[];
  dropped: number;
  nextId: number;
  /** The stream whose last line has no newline yet: the next piece of it continues that line. */
  open: 'stdout' | 'stderr' | null;
}

export const EMPTY_LOG: LogState = { lines: [], dropped: 0, nextId: 0, open: null };

/**
 * The log with `data` of `stream` added: split into lines, a piece that ends mid-line continued
 * by the next piece of the same stream, and the oldest lines dropped past `limit`. The
 * `truncated` marker (the host's output cap was reached) is always a line of its own.
 */
export function appendLog(state: LogState, stream: LogStream, data: string, limit = LOG_LINE_LIMIT): LogState {
  if (data === '') return state;
  const lines = state.lines.slice();
  let nextId = state.nextId;
  let open = state.open;
  if (stream === 'truncated') {
    lines.push({ id: nextId++, stream, text: `[${data.trim() || 'output cap reached'}]` });
    open = null;
  } else {
    const parts = data.replace(/\r\n/g, '\n').split('\n');
    // A trailing newline leaves an empty last part: the line is complete.
    const endsOpen = parts[parts.length - 1] !== '';
    if (!endsOpen) parts.pop();
    parts.forEach((text, i) => {
      const last = lines[lines.length - 1];
      if (i === 0 && open === stream && last) lines[lines.length - 1] = { ...last, text: last.text + text };
      else lines.push({ id: nextId++, stream, text });
    });
    // Any line added after a partial one closes it: only the last line can be continued.
    open = endsOpen ? stream : null;
  }
  const over = Math.max(0, lines.length - Math.max(1, limit));
  return { lines: over > 0 ? lines.slice(over) : lines, dropped: state.dropped + over, nextId, open };
}

// ---- how a run ended, in words --------------------------------------------------------------

/** A host that did not do what was asked, and why. */
export interface TargetProblem {
  nodeId: string;
  hostname: string;
  state: RunTargetState;
  message: string;
  /** What the operator can do about it, when we know. */
  hint: string | null;
}

const REFUSAL_HINTS: Record<string, string> = {
  ability_not_granted: "Your key's capability does not grant this operation: ask a fleet admin for one that does (gpufleet caps grant).",
  unknown_issuer: 'The host does not know your key: it is neither a fleet root nor backed by a capability from one.',
  untrusted_chain: 'The host does not trust the capability chain of your key.',
  selector_mismatch: "Your key's capability does not cover this host.",
  expired: "Your key's capability has expired: ask for a new one and unlock the key again.",
  not_yet_valid: "Your key's capability is not valid yet, or this computer's clock is behind.",
  revoked: 'Your key or its capability was revoked.',
  replayed_nonce: 'The host saw this signed command before: try again.',
};

/** The refusal code of a target's reason (`code: message` as the server stores it). */
function refusalCode(reason: string | null): string | null {
  if (!reason) return null;
  const m = /^([a-z_]+):/.exec(reason);
  return m ? m[1]! : null;
}

/** The last error line a host wrote, without the `error: ` prefix the agent puts on it. */
function lastErrorLine(stderr: string): string | null {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const last = lines[lines.length - 1];
  return last === undefined ? null : last.replace(/^error:\s*/, '');
}

/**
 * The hosts of a finished run that did not succeed, each with the reason in words. `endedIsOk`:
 * a host stopped by cancel or its time limit did what was asked (how a live tail ends).
 */
export function targetProblems(targets: readonly RunTargetView[], stderrOf: (nodeId: string) => string, opts: { endedIsOk?: boolean } = {}): TargetProblem[] {
  const problems: TargetProblem[] = [];
  for (const t of targets) {
    if (t.state === 'succeeded' || (opts.endedIsOk && (t.state === 'canceled' || t.state === 'timed_out'))) continue;
    let message: string;
    let hint: string | null = null;
    switch (t.state) {
      case 'refused':
        message = `refused: ${t.reason ?? 'no reason given'}`;
        hint = REFUSAL_HINTS[refusalCode(t.reason) ?? ''] ?? null;
        break;
      case 'failed': {
        const err = lastErrorLine(stderrOf(t.nodeId));
        message = `failed${t.exitCode === null ? '' : ` (exit ${t.exitCode})`}${err ? `: ${err}` : t.reason ? `: ${t.reason}` : ''}`;
        if (err && /no container engine/i.test(err)) hint = 'Docker or Podman must run on the host, with its API socket where the agent looks for it.';
        break;
      }
      case 'unreachable':
        message = `unreachable${t.reason ? `: ${t.reason}` : ': the host did not answer'}`;
        break;
      case 'timed_out':
        message = 'timed out before the host finished';
        break;
      case 'canceled':
        message = `canceled${t.reason ? ` (${t.reason})` : ''}`;
        break;
      default:
        message = `still ${t.state.replace('_', ' ')}`;
    }
    problems.push({ nodeId: t.nodeId, hostname: t.hostname, state: t.state, message, hint });
  }
  return problems;
}
