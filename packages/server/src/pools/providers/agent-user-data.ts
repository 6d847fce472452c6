import { isLabelKey, isLabelValue } from '@gpufleet/protocol';

/**
 * The first-boot script a cloud instance runs (cloud-init user data, or the ssh provider's
 * bootstrap): install the agent when it is missing, join the fleet with the single-use token,
 * and run the agent under systemd. Every value from outside is single-quoted for the shell, so a
 * token or label cannot end a quote and run its own commands.
 */
export interface AgentUserDataOptions {
  /** Single-use join token minted for this provision. */
  joinToken: string;
  /** Labels the node asks for at join (`--label k=v`); the token's pool label comes with the token. */
  labels?: Record<string, string>;
  /**
   * Shell command that installs `gpufleet-agent` (run with bash -c when the command is missing).
   * The agent package (@gpufleet/agent) is private, not on the npm registry: a fleet points this at
   * its own tarball or package mirror, or bakes the agent into the image.
   */
  installCommand?: string;
  /** The agent's state directory. */
  dataDir?: string;
  /** Where the systemd unit is written (tests write into a temporary folder). */
  unitPath?: string;
}

export const DEFAULT_AGENT_INSTALL_COMMAND = 'npm install -g @gpufleet/agent';
export const DEFAULT_AGENT_DATA_DIR = '/var/lib/gpufleet-agent';
export const DEFAULT_AGENT_UNIT_PATH = '/etc/systemd/system/gpufleet-agent.service';

/** The smallest user-data limit among providers (EC2: 16 KB before base64); we stay well below. */
const MAX_TOKEN_CHARS = 4096;

const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;

/** Quotes one word for bash: inside single quotes nothing is special but the quote itself. */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a shell word cannot contain a NUL character');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function agentUserData(options: AgentUserDataOptions): string {
  const token = options.joinToken;
  if (typeof token !== 'string' || token.length === 0) throw new Error('agentUserData: joinToken is empty');
  if (token.length > MAX_TOKEN_CHARS) throw new Error(`agentUserData: joinToken is longer than ${MAX_TOKEN_CHARS} characters`);
  if (/[\x00-\x1f\x7f]/.test(token)) throw new Error('agentUserData: joinToken contains control characters');
  const labelArgs: string[] = [];
  for (const [key, value] of Object.entries(options.labels ?? {})) {
    if (!isLabelKey(key)) throw new Error(`agentUserData: labels: '${key}' is not a valid label key`);
    if (!isLabelValue(value)) throw new Error(`agentUserData: labels.${key}: '${value}' is not a valid label value`);
    labelArgs.push(`--label ${shellQuote(`${key}=${value}`)}`);
  }
  const installCommand = options.installCommand ?? DEFAULT_AGENT_INSTALL_COMMAND;
  if (installCommand.trim() === '') throw new Error('agentUserData: installCommand is empty');
  const dataDir = options.dataDir ?? DEFAULT_AGENT_DATA_DIR;
  const unitPath = options.unitPath ?? DEFAULT_AGENT_UNIT_PATH;
  for (const [name, path] of [
    ['dataDir', dataDir],
    ['unitPath', unitPath],
  ] as const) {
    // Plain absolute paths only: the data dir also lands unquoted in the unit's ExecStart line.
    if (!SAFE_PATH.test(path)) throw new Error(`agentUserData: ${name} must be an absolute path of letters, digits and . _ / -, got '${path}'`);
  }

  return [
    '#!/bin/bash',
    '# gpufleet: installs the agent, joins the fleet with a single-use token, runs the agent under systemd.',
    'set -euo pipefail',
    'umask 077',
    `DATA_DIR=${shellQuote(dataDir)}`,
    `UNIT_PATH=${shellQuote(unitPath)}`,
    'if ! command -v gpufleet-agent >/dev/null 2>&1; then',
    `  bash -c ${shellQuote(installCommand)}`,
    'fi',
    'AGENT_BIN="$(command -v gpufleet-agent)"',
    // systemd splits ExecStart on whitespace; a path with any would start something else.
    'case "$AGENT_BIN" in *[[:space:]]*) echo "gpufleet: agent path has whitespace: $AGENT_BIN" >&2; exit 1;; esac',
    // The token is single use: a second boot of the same disk must not spend it again.
    'if [ ! -e "$DATA_DIR/node.key" ]; then',
    `  "$AGENT_BIN" join ${shellQuote(token)} --data-dir "$DATA_DIR"${labelArgs.map((a) => ` ${a}`).join('')}`,
    'fi',
    'umask 022',
    // Mirrors packages/agent/systemd/gpufleet-agent.service (see there why it runs as root, unsandboxed).
    'cat > "$UNIT_PATH" <<UNIT',
    '[Unit]',
    'Description=gpufleet agent (GPU fleet inventory, metrics, health and signed commands)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    // Under the launcher, so signed agent releases can be installed and rolled back (issue 14).
    'ExecStart=$AGENT_BIN launch -- --data-dir $DATA_DIR',
    'Restart=always',
    'RestartSec=5',
    'TimeoutStopSec=15',
    'KillSignal=SIGTERM',
    'KillMode=control-group',
    'LockPersonality=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    'UNIT',
    'systemctl daemon-reload',
    'systemctl enable --now gpufleet-agent',
    '',
  ].join('\n');
}
