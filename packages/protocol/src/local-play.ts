import { labelSafe } from './builtin-labels.js';

/**
 * An agent host's part of a play (issue 12): a shell script that runs ansible-playbook against
 * the host itself (`-c local`), with the playbook, the inventory (the host's groups and merged
 * variables) and the extra variables written inline. The operator signs this script as an
 * ordinary `exec/run` shell command, so the host runs a play only under the same signature,
 * capability and selector checks as any command; the control plane only routes it.
 *
 * The CLI renders the script it signs from the parts of a plan, and the server renders it again
 * from the play's own parts and refuses a signed script that differs: both call this function.
 */
export interface LocalPlayInput {
  template: { name: string; version: number; sha256: string; playbook: string; become: boolean };
  /** The host's name in the play (its inventory name, and what its events say). */
  hostname: string;
  /** The host's groups (a playbook may say `hosts: gpu_nodes`). */
  groups: string[];
  /** The template's defaults: below every layered variable. */
  defaults: Record<string, unknown>;
  /** The host's variables, merged (global < groups < node < extra), connection variables left out. */
  vars: Record<string, unknown>;
  extraVars: Record<string, unknown>;
  check: boolean;
}

/** The signed selector of a host's part: its own hostname label, which the host checks itself. */
export function localPlayTarget(hostname: string): string {
  return `hostname=${labelSafe(hostname)}`;
}

function shQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * A here-document no line of `body` can end early: its delimiter is the first of GPUFLEET_EOF,
 * GPUFLEET_EOF_1, ... that is no line of the body. Deterministic, and free of node:crypto so the
 * dashboard's signer renders the same text.
 */
function heredoc(path: string, body: string): string {
  const lines = new Set(body.split('\n'));
  let tag = 'GPUFLEET_EOF';
  for (let i = 1; lines.has(tag); i++) tag = `GPUFLEET_EOF_${i}`;
  const text = body.endsWith('\n') ? body : `${body}\n`;
  return `cat > "$d/${path}" <<'${tag}'\n${text}${tag}\n`;
}

/** Inventory groups as Ansible names them; `all` and `ungrouped` are Ansible's own. */
function inventoryOf(input: LocalPlayInput): unknown {
  const children: Record<string, { hosts: Record<string, null> }> = {};
  for (const g of input.groups) {
    if (g === 'all' || g === 'ungrouped') continue;
    children[g] = { hosts: { [input.hostname]: null } };
  }
  const host = { ...input.vars, ansible_connection: 'local', ansible_python_interpreter: 'auto_silent' };
  return { all: { vars: input.defaults, hosts: { [input.hostname]: host }, children } };
}

/** The script, deterministic for the same input (JSON keys in the order given). */
export function localPlayScript(input: LocalPlayInput): string {
  const t = input.template;
  const args = ['-i', '"$d/inventory.json"', '-e', '@"$d/extra_vars.json"', '"$d/playbook.yml"'];
  if (input.check) args.push('--check');
  if (t.become) args.push('--become');
  return [
    '#!/bin/sh',
    `# gpufleet play: template ${t.name}@${t.version} (playbook sha256 ${t.sha256}) on ${input.hostname}`,
    'set -eu',
    "command -v ansible-playbook >/dev/null 2>&1 || { echo 'ansible-playbook is not installed on this host: apt-get install ansible' >&2; exit 127; }",
    'd=$(mktemp -d)',
    `trap 'rm -rf "$d"' EXIT`,
    "trap 'exit 130' INT TERM",
    heredoc('playbook.yml', t.playbook).trimEnd(),
    heredoc('inventory.json', JSON.stringify(inventoryOf(input))).trimEnd(),
    heredoc('extra_vars.json', JSON.stringify(input.extraVars)).trimEnd(),
    'mkdir -m 0700 "$d/tmp"',
    `export ANSIBLE_STDOUT_CALLBACK=ansible.posix.jsonl ANSIBLE_LOCAL_TEMP="$d/tmp" ANSIBLE_REMOTE_TEMP="$d/tmp" ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=0 ANSIBLE_INVENTORY_ENABLED=yaml PYTHONUNBUFFERED=1`,
    `cd "$d"`,
    `ansible-playbook ${args.join(' ')} -l ${shQuote(input.hostname)}`,
    '',
  ].join('\n');
}
