import { FleetError } from '@gpufleet/protocol';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type YAMLMap } from 'yaml';

/**
 * A playbook's text: checked before it is stored (a list of plays, each with `hosts` and something
 * to do, or an `import_playbook`), and rewritten for a play's rolling options. Garbage is refused
 * with the line and column where it is.
 */

const PLAY_WORK_KEYS = ['tasks', 'roles', 'pre_tasks', 'post_tasks', 'handlers'];

function at(lc: LineCounter, offset: number | undefined): string {
  const pos = lc.linePos(offset ?? 0);
  return `line ${pos.line}:${pos.col}`;
}

function refuse(message: string): never {
  throw new FleetError('invalid_argument', `playbook: ${message}`);
}

/** Parses and checks a playbook; returns the document for rewriting. */
export function parsePlaybook(text: string): Document {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) refuse(`${at(lineCounter, first.pos[0])}: ${first.message.split('\n')[0]}`);
  const root = doc.contents;
  if (!isSeq(root)) refuse(`${at(lineCounter, root?.range?.[0])}: a playbook is a list of plays (- hosts: ...), not ${describe(root)}`);
  if (root.items.length === 0) refuse('line 1:1: the list of plays is empty');
  root.items.forEach((item, i) => {
    const where = at(lineCounter, (item as { range?: number[] } | null)?.range?.[0]);
    if (!isMap(item)) refuse(`${where}: play ${i + 1} is ${describe(item)}, not a mapping with hosts and tasks`);
    if (item.has('import_playbook')) return;
    const hosts = item.get('hosts', true);
    if (hosts === undefined || (isScalar(hosts) && (hosts.value === null || String(hosts.value) === ''))) refuse(`${where}: play ${i + 1} has no hosts`);
    if (!PLAY_WORK_KEYS.some((k) => item.has(k))) refuse(`${where}: play ${i + 1} has no tasks, roles or import_playbook`);
  });
  return doc;
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return 'empty';
  if (isScalar(node)) return `the value ${JSON.stringify(String(node.value)).slice(0, 60)}`;
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  return 'something else';
}

export interface RollingOptions {
  /** A count (`5`) or share (`25%`); null keeps what each play says. */
  serial: string | null;
  maxFailPercentage: number | null;
}

/** The playbook with `serial` and `max_fail_percentage` set on every play (an import is left as is). */
export function withRolling(text: string, options: RollingOptions): string {
  const doc = parsePlaybook(text);
  if (options.serial === null && options.maxFailPercentage === null) return text;
  for (const item of (doc.contents as { items: YAMLMap[] }).items) {
    if (item.has('import_playbook')) continue;
    if (options.serial !== null) item.set('serial', /^\d+$/.test(options.serial) ? Number(options.serial) : options.serial);
    if (options.maxFailPercentage !== null) item.set('max_fail_percentage', options.maxFailPercentage);
  }
  return doc.toString();
}

/**
 * Variables that say how Ansible connects: the run folder sets them (pinned keys, our key file);
 * a layered or extra variable must not override them (e.g. StrictHostKeyChecking=no in ssh args).
 */
const CONNECTION_VAR =
  /^ansible_(host|port|user|connection|ssh_.*|password|pass|private_key_file|sftp_.*|scp_.*|paramiko_.*|shell_executable|become_password|become_pass)$/;

export function isConnectionVar(name: string): boolean {
  return CONNECTION_VAR.test(name);
}
