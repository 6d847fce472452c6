import { FleetError } from '@gpufleet/protocol';
import {
  EXIT_AGENT_DIED,
  EXIT_NO_SYSTEMD,
  agentUnitText,
  joinScript,
  probeAgentScript,
  remoteLine,
  startScript,
  stopScript,
  type AgentSetup,
} from '../pools/providers/ssh-agent-scripts.js';
import { shellQuote } from '../pools/providers/shell-quote.js';
import type { SshEndpoint, SshExecResult, SshTransport } from '../ssh/ssh-transport.js';

/**
 * What promote runs on the host over SSH (issue 12), built from the ssh provider's agent scripts
 * (pools/providers/ssh-agent-scripts.ts) so both set up an agent the same way. Every step is
 * one exec; a non-zero exit becomes a FleetError whose message ends with the host's own words.
 */
export class PromoteRemote {
  constructor(
    private readonly transport: SshTransport,
    private readonly endpoint: SshEndpoint,
    readonly setup: AgentSetup,
  ) {}

  /** The agent's version when its command runs here, else null. */
  async agentVersion(timeoutMs: number): Promise<string | null> {
    const r = await this.run(probeAgentScript(this.setup), timeoutMs);
    return r.code === 0 ? r.stdout.trim().split('\n')[0]?.slice(0, 100) || 'unknown version' : null;
  }

  /** Runs the operator's install command (as root: through sudo -n for another user). */
  async install(command: string, timeoutMs: number): Promise<void> {
    const r = await this.run(command, timeoutMs);
    if (r.code !== 0) throw hostFailure(`the install command exited with ${exitText(r)}`, r);
  }

  /** systemd when the host runs it (a unit keeps the agent across reboots), else a background process. */
  async serviceKind(timeoutMs: number): Promise<AgentSetup['service']> {
    const r = await this.transport.exec(this.endpoint, 'test -d /run/systemd/system && command -v systemctl >/dev/null 2>&1', { timeoutMs });
    return r.code === 0 ? 'systemd' : 'background';
  }

  /** Writes the node key to `<data dir>/node.key` (dir 0700, file 0600); the key travels on stdin, never on a command line. */
  async writeNodeKey(privateKeyPem: string, timeoutMs: number): Promise<void> {
    const dir = shellQuote(this.setup.dataDir);
    const file = shellQuote(`${this.setup.dataDir}/node.key`);
    const script = [
      'set -e',
      'umask 077',
      `mkdir -p ${dir}`,
      `chmod 700 ${dir}`,
      `cat > ${file}.new`,
      `chmod 600 ${file}.new`,
      `mv -f ${file}.new ${file}`,
    ].join('\n');
    const r = await this.run(script, timeoutMs, privateKeyPem);
    if (r.code !== 0) throw hostFailure(`writing the node key into ${this.setup.dataDir} exited with ${exitText(r)}`, r);
  }

  async join(token: string, timeoutMs: number): Promise<void> {
    const r = await this.run(joinScript(this.setup, token, {}), timeoutMs);
    if (r.code !== 0) throw hostFailure(`${this.setup.agentCommand.join(' ')} join exited with ${exitText(r)}`, r);
  }

  async start(timeoutMs: number): Promise<void> {
    const stdin = this.setup.service === 'systemd' ? agentUnitText(this.setup) : undefined;
    const r = await this.run(startScript(this.setup), timeoutMs, stdin);
    if (r.code === 0) return;
    if (r.code === EXIT_NO_SYSTEMD) throw hostFailure('the host has no systemctl', r);
    if (r.code === EXIT_AGENT_DIED) throw hostFailure('the agent exited right after it started', r);
    throw hostFailure(`starting the agent exited with ${exitText(r)}`, r);
  }

  /** Stops the agent and removes its data dir (node key included); used when a promote fails after the key was written. */
  async stop(timeoutMs: number): Promise<void> {
    const r = await this.run(stopScript(this.setup), timeoutMs);
    if (r.code !== 0) throw hostFailure(`stopping the agent exited with ${exitText(r)}`, r);
  }

  private run(script: string, timeoutMs: number, stdin?: string): Promise<SshExecResult> {
    return this.transport.exec(this.endpoint, remoteLine(this.setup, script), {
      timeoutMs,
      ...(stdin === undefined ? {} : { stdin }),
      maxOutputBytes: 256 * 1024,
    });
  }
}

function exitText(r: SshExecResult): string {
  return r.code === null ? `signal ${r.signal ?? 'unknown'}` : `status ${r.code}`;
}

/** The last lines the host printed (stderr, else stdout), so the operator sees why. */
function hostFailure(what: string, r: SshExecResult): FleetError {
  const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join(' | ').slice(0, 600);
  return new FleetError('failed_precondition', said ? `${what}: ${said}` : what);
}
