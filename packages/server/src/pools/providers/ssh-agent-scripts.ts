import { shellCommand, shellQuote, systemdQuote } from './shell-quote.js';

/**
 * The shell scripts the ssh provider runs on a host to set up and remove the agent, built from
 * the agent's own CLI (`gpufleet-agent join <token> --data-dir DIR [--label k=v]`, then
 * `gpufleet-agent run --data-dir DIR`). POSIX sh only; every value is quoted, none is spliced.
 */

/** What the scripts need to know of a host (a snapshot is kept with each lease, so removal does not depend on the hosts file). */
export interface AgentSetup {
  agentCommand: string[];
  dataDir: string;
  service: 'systemd' | 'background';
  user: string;
}

export const AGENT_UNIT_NAME = 'gpufleet-agent.service';
export const AGENT_UNIT_PATH = `/etc/systemd/system/${AGENT_UNIT_NAME}`;
/** The agent's state once a join succeeded (runtime/file-state.ts in the agent). */
export const JOINED_MARKER = 'node.json';
/** The background agent's pid (not `agent.pid`: that is the agent's own data-dir lock, written as `pid boot-id`). */
export const PID_FILE = 'background.pid';
export const LOG_FILE = 'background.log';

/** Exit status the start script uses for "systemd was asked for but this host has none". */
export const EXIT_NO_SYSTEMD = 97;
/** Exit status of the start script when the agent died at once (its log's end is on stderr). */
export const EXIT_AGENT_DIED = 98;

/** Shell: `running PID` is true while the process is alive and not a zombie waiting to be reaped. */
const RUNNING_FUNCTION = `running() { kill -0 "$1" 2>/dev/null && ! sed -n 's/.*) \\([A-Z]\\).*/\\1/p' "/proc/$1/stat" 2>/dev/null | grep -q Z; }`;

/**
 * The line to run `script` with: in `sh` (whatever the login shell is), through `sudo -n` for a
 * user other than root (the unit, the data dir under /var/lib and the agent itself need root).
 */
export function remoteLine(setup: Pick<AgentSetup, 'user'>, script: string): string {
  const sh = `sh -c ${shellQuote(script)}`;
  return setup.user === 'root' ? sh : `sudo -n ${sh}`;
}

/** Exits 0 when the agent command runs (`--version`). */
export function probeAgentScript(setup: AgentSetup): string {
  return `${shellCommand([...setup.agentCommand, '--version'])}`;
}

/** Exits 0 when the data dir holds a joined agent's state (a resumed provision skips the join). */
export function joinedScript(setup: AgentSetup): string {
  return `test -f ${shellQuote(`${setup.dataDir}/${JOINED_MARKER}`)}`;
}

/** Enrolls the host with a single-use token; host labels are asked for with --label. */
export function joinScript(setup: AgentSetup, token: string, labels: Record<string, string>): string {
  const labelArgs = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  return shellCommand([...setup.agentCommand, 'join', token, '--data-dir', setup.dataDir, ...labelArgs]);
}

/** The agent's run command line, as argv. */
function runArgv(setup: AgentSetup): string[] {
  return [...setup.agentCommand, 'run', '--data-dir', setup.dataDir];
}

/**
 * The agent under its launcher (`launch -- run options`), for systemd: signed agent releases can
 * then be installed and rolled back, and the unit's cgroup takes the agent down with the launcher.
 * The background start keeps `run`: without a cgroup, a killed launcher would leave its agent behind.
 */
function launchArgv(setup: AgentSetup): string[] {
  return [...setup.agentCommand, 'launch', '--', '--data-dir', setup.dataDir];
}

/** A systemd unit like the one the agent ships (packages/agent/systemd), running this host's agent command. */
export function agentUnitText(setup: AgentSetup): string {
  return [
    '# Written by the gpufleet ssh provider; removed when the host is given back.',
    '[Unit]',
    'Description=gpufleet agent (GPU fleet inventory, metrics, health and signed commands)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${launchArgv(setup).map(systemdQuote).join(' ')}`,
    'Restart=always',
    'RestartSec=5',
    'TimeoutStopSec=15',
    'KillSignal=SIGTERM',
    'KillMode=control-group',
    'LockPersonality=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * Starts the agent and leaves it running. systemd: the unit text comes on stdin, is written
 * atomically, then `enable --now`. background: the agent in its own session (setsid, or nohup
 * where there is none) with its pid in the data dir; a second start finds it running and stops
 * there. Either way, an agent that dies within a second fails the script with its log's end.
 */
export function startScript(setup: AgentSetup): string {
  const dir = shellQuote(setup.dataDir);
  if (setup.service === 'systemd') {
    const unit = shellQuote(AGENT_UNIT_PATH);
    return [
      `command -v systemctl >/dev/null 2>&1 || { echo 'this host has no systemctl: use service: background in the hosts file' >&2; exit ${EXIT_NO_SYSTEMD}; }`,
      'set -e',
      `umask 022`,
      `cat > ${unit}.new`,
      `mv -f ${unit}.new ${unit}`,
      'systemctl daemon-reload',
      `systemctl enable --now ${AGENT_UNIT_NAME}`,
      'sleep 1',
      `systemctl is-active --quiet ${AGENT_UNIT_NAME} || { journalctl -u ${AGENT_UNIT_NAME} -n 20 --no-pager >&2 || true; exit ${EXIT_AGENT_DIED}; }`,
    ].join('\n');
  }
  const pid = shellQuote(`${setup.dataDir}/${PID_FILE}`);
  const log = shellQuote(`${setup.dataDir}/${LOG_FILE}`);
  const mark = shellQuote(`--data-dir ${setup.dataDir} `);
  const run = shellCommand(runArgv(setup));
  return [
    // Already running: the pid is alive, not a zombie (an agent killed and not yet reaped answers
    // kill -0), and its command line names this data dir (a recycled pid is someone else).
    RUNNING_FUNCTION,
    `if [ -f ${pid} ]; then`,
    `  p="$(cat ${pid})"`,
    `  if running "$p" && [ -r "/proc/$p/cmdline" ] && tr '\\000' ' ' < "/proc/$p/cmdline" | grep -qF -- ${mark}; then exit 0; fi`,
    'fi',
    `cd / || exit 1`,
    `mkdir -p ${dir}`,
    `if command -v setsid >/dev/null 2>&1; then setsid ${run} >>${log} 2>&1 </dev/null &`,
    `else nohup ${run} >>${log} 2>&1 </dev/null &`,
    'fi',
    `echo $! > ${pid}`,
    'sleep 1',
    `running "$(cat ${pid})" || { tail -n 20 ${log} >&2; exit ${EXIT_AGENT_DIED}; }`,
  ].join('\n');
}

/**
 * Stops the agent and removes what the provider put on the host: the unit (systemd) or the
 * process named in the pid file (background: only when its command line names this data dir,
 * so a recycled pid is never killed), then the data dir. Running it twice is harmless.
 */
export function stopScript(setup: AgentSetup): string {
  const dir = shellQuote(setup.dataDir);
  const lines: string[] = [];
  if (setup.service === 'systemd') {
    const unit = shellQuote(AGENT_UNIT_PATH);
    lines.push(
      'if command -v systemctl >/dev/null 2>&1; then',
      `  systemctl disable --now ${AGENT_UNIT_NAME} >/dev/null 2>&1 || true`,
      `  rm -f ${unit} ${unit}.new`,
      '  systemctl daemon-reload || true',
      'fi',
    );
  } else {
    const pid = shellQuote(`${setup.dataDir}/${PID_FILE}`);
    const mark = shellQuote(`--data-dir ${setup.dataDir} `);
    lines.push(
      RUNNING_FUNCTION,
      `if [ -f ${pid} ]; then`,
      `  p="$(cat ${pid})"`,
      `  if [ -r "/proc/$p/cmdline" ] && tr '\\000' ' ' < "/proc/$p/cmdline" | grep -qF -- ${mark}; then`,
      '    kill -TERM "$p" 2>/dev/null || true',
      '    i=0',
      '    while running "$p" && [ "$i" -lt 150 ]; do sleep 0.1; i=$((i+1)); done',
      '    kill -KILL "$p" 2>/dev/null || true',
      '  fi',
      'fi',
    );
  }
  lines.push(`rm -rf -- ${dir}`);
  return lines.join('\n');
}
