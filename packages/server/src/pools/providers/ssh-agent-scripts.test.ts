import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AgentSetup, agentUnitText, EXIT_AGENT_DIED, joinScript, PID_FILE, remoteLine, startScript, stopScript } from './ssh-agent-scripts.js';

const root = mkdtempSync(join(tmpdir(), 'gpufleet-agent-scripts-'));
const started: number[] = [];
const others: ChildProcess[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
  for (const p of others) p.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** A stand-in agent: a shell script that stays up (or exits at once) whatever it is asked. */
function fakeAgent(name: string, body: string): string {
  const path = join(root, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Runs a script as the provider does on a host (`sh -c` for root), here on this machine. */
function runHere(setup: AgentSetup, script: string): { code: number | null; stderr: string } {
  const line = remoteLine(setup, script);
  const r = spawnSync('sh', ['-c', line], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr };
}

/** Whether a process runs (a zombie waiting for its new parent to reap it does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('background start and stop, run by a real sh', () => {
  it('starts the agent detached, finds it running on a second start, and stop kills it and removes the data dir', () => {
    const dataDir = join(root, "data dir with 'quotes'");
    mkdirSync(dataDir);
    const setup: AgentSetup = { agentCommand: [fakeAgent('stays', 'while :; do sleep 1; done')], dataDir, service: 'background', user: 'root' };
    expect(runHere(setup, startScript(setup)).code).toBe(0);
    const pid = Number(readFileSync(join(dataDir, PID_FILE), 'utf8'));
    started.push(pid);
    expect(alive(pid)).toBe(true);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\u0000')).toEqual(['/bin/sh', setup.agentCommand[0], 'run', '--data-dir', dataDir, '']);

    expect(runHere(setup, startScript(setup)).code).toBe(0);
    expect(Number(readFileSync(join(dataDir, PID_FILE), 'utf8'))).toBe(pid);

    expect(runHere(setup, stopScript(setup)).code).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
    // Again, with nothing left: harmless.
    expect(runHere(setup, stopScript(setup)).code).toBe(0);
  });

  it('fails the start with the log when the agent dies at once', () => {
    const dataDir = join(root, 'dies-data');
    const setup: AgentSetup = {
      agentCommand: [fakeAgent('dies', 'echo "error: the server refused this node" >&2; exit 1')],
      dataDir,
      service: 'background',
      user: 'root',
    };
    const r = runHere(setup, startScript(setup));
    expect(r.code).toBe(EXIT_AGENT_DIED);
    expect(r.stderr).toContain('error: the server refused this node');
  });

  it('never kills a process the pid file names when it is not this data dir agent (a recycled pid)', () => {
    const dataDir = join(root, 'recycled');
    mkdirSync(dataDir);
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    others.push(stranger);
    writeFileSync(join(dataDir, PID_FILE), `${stranger.pid}\n`);
    const setup: AgentSetup = { agentCommand: ['gpufleet-agent'], dataDir, service: 'background', user: 'root' };
    expect(runHere(setup, stopScript(setup)).code).toBe(0);
    expect(alive(stranger.pid!)).toBe(true);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('starts the agent when the pid file names another process (a recycled pid), not taking it for the agent', () => {
    const dataDir = join(root, 'recycled-start');
    mkdirSync(dataDir);
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    others.push(stranger);
    writeFileSync(join(dataDir, PID_FILE), `${stranger.pid}\n`);
    const setup: AgentSetup = { agentCommand: [fakeAgent('stays-recycled', 'exec sleep 30')], dataDir, service: 'background', user: 'root' };
    expect(runHere(setup, startScript(setup)).code).toBe(0);
    const pid = Number(readFileSync(join(dataDir, PID_FILE), 'utf8'));
    started.push(pid);
    expect(pid).not.toBe(stranger.pid);
    expect(alive(pid)).toBe(true);
  });

  it('starts the agent when the one the pid file names was killed and is not reaped yet (a zombie)', () => {
    const dataDir = join(root, 'zombie-start');
    mkdirSync(dataDir);
    const agent = fakeAgent('stays-zombie', 'exec sleep 30');
    // A parent that neither waits for its killed child nor exits: the child stays a zombie.
    const parent = spawn('sh', ['-c', `'${agent}' run --data-dir '${dataDir}' & echo $! > '${join(dataDir, PID_FILE)}'; kill -9 $!; exec sleep 30`], {
      stdio: 'ignore',
    });
    others.push(parent);
    let zombie = 0;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      zombie = Number(existsSync(join(dataDir, PID_FILE)) ? readFileSync(join(dataDir, PID_FILE), 'utf8') : 0);
      if (zombie > 0 && existsSync(`/proc/${zombie}/stat`) && /\) Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8'))) break;
      spawnSync('sleep', ['0.05']);
    }
    expect(/\) Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8'))).toBe(true);
    const setup: AgentSetup = { agentCommand: [agent], dataDir, service: 'background', user: 'root' };
    expect(runHere(setup, startScript(setup)).code).toBe(0);
    const pid = Number(readFileSync(join(dataDir, PID_FILE), 'utf8'));
    started.push(pid);
    expect(pid).not.toBe(zombie);
    expect(alive(pid)).toBe(true);
  });
});

describe('script text', () => {
  const setup: AgentSetup = { agentCommand: ['node', '/opt/gpu fleet/agent.js'], dataDir: '/var/lib/gpufleet-agent', service: 'systemd', user: 'ubuntu' };

  it('passes the token and labels as single words, through sudo for a user other than root', () => {
    expect(joinScript(setup, "gfj1.a'b", { rack: 'r 1' })).toBe(
      `node '/opt/gpu fleet/agent.js' join 'gfj1.a'\\''b' --data-dir /var/lib/gpufleet-agent --label 'rack=r 1'`,
    );
    expect(remoteLine(setup, 'true')).toBe('sudo -n sh -c true');
    expect(remoteLine({ user: 'root' }, 'echo $HOME')).toBe(`sh -c 'echo $HOME'`);
  });

  it('writes a unit whose ExecStart runs the agent under its launcher with the data dir, quoted for systemd', () => {
    const unit = agentUnitText(setup);
    expect(unit).toContain('ExecStart=node "/opt/gpu fleet/agent.js" launch -- --data-dir /var/lib/gpufleet-agent\n');
    expect(unit).toContain('Restart=always');
    expect(unit).toContain('WantedBy=multi-user.target');
    const start = startScript(setup);
    expect(start).toContain('systemctl enable --now gpufleet-agent.service');
    expect(start).toContain('cat > /etc/systemd/system/gpufleet-agent.service.new\nmv -f');
    expect(stopScript(setup)).toContain('systemctl disable --now gpufleet-agent.service');
  });
});
