import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentUserData, shellQuote } from './agent-user-data.js';

/**
 * The script is run for real by bash, with `gpufleet-agent` and `systemctl` replaced by stubs that
 * record their arguments (one per line, NUL-free), so the tests see exactly what a host would run.
 */
let dir: string;
let bin: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-userdata-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  writeStub('systemctl', join(dir, 'systemctl.log'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A stub command that appends its argv (JSON) to `log`. */
function writeStub(name: string, log: string, where = bin): void {
  const path = join(where, name);
  writeFileSync(path, `#!/usr/bin/env node\nrequire('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify(process.argv.slice(2)) + '\\n');\n`);
  chmodSync(path, 0o755);
}

function calls(log: string): string[][] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as string[]);
}

function run(script: string): { status: number | null; stderr: string } {
  const path = join(dir, 'user-data.sh');
  writeFileSync(path, script, { mode: 0o700 });
  const result = spawnSync('bash', [path], { env: { PATH: `${bin}:/usr/bin:/bin`, HOME: dir }, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stderr: result.stderr };
}

function paths() {
  return { dataDir: join(dir, 'data'), unitPath: join(dir, 'gpufleet-agent.service') };
}

describe('agentUserData', () => {
  it('is a bash script with strict mode that bash accepts', () => {
    const script = agentUserData({ joinToken: 'gfj_abc' });
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain('set -euo pipefail');
    execFileSync('bash', ['-n'], { input: script });
  });

  it('joins with the token and labels, then writes and enables the unit', () => {
    writeStub('gpufleet-agent', join(dir, 'agent.log'));
    const { dataDir, unitPath } = paths();
    const result = run(agentUserData({ joinToken: 'gfj_123.abc', labels: { zone: 'us-east-1a', 'gpu/kind': 'h100' }, dataDir, unitPath }));
    expect(result).toEqual({ status: 0, stderr: '' });
    expect(calls(join(dir, 'agent.log'))).toEqual([['join', 'gfj_123.abc', '--data-dir', dataDir, '--label', 'zone=us-east-1a', '--label', 'gpu/kind=h100']]);
    const unit = readFileSync(unitPath, 'utf8');
    expect(unit).toContain(`ExecStart=${join(bin, 'gpufleet-agent')} launch -- --data-dir ${dataDir}\n`);
    expect(unit).toContain('Restart=always');
    expect(calls(join(dir, 'systemctl.log'))).toEqual([['daemon-reload'], ['enable', '--now', 'gpufleet-agent']]);
  });

  it('a token full of shell syntax reaches the agent as one literal word', () => {
    writeStub('gpufleet-agent', join(dir, 'agent.log'));
    const evil = `a'; touch ${join(dir, 'pwned')}; echo '$(id)\`id\` "x" \\ $HOME`;
    const result = run(agentUserData({ joinToken: evil, ...paths() }));
    expect(result.status).toBe(0);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    expect(calls(join(dir, 'agent.log'))[0]?.[1]).toBe(evil);
  });

  it('refuses labels that are not valid labels, naming the label (quotes cannot get in)', () => {
    expect(() => agentUserData({ joinToken: 't', labels: { zone: "a'; rm -rf /; '" } })).toThrow(/labels\.zone/);
    expect(() => agentUserData({ joinToken: 't', labels: { "k'": 'v' } })).toThrow(/'k'' is not a valid label key/);
  });

  it('refuses an empty token, control characters and odd paths', () => {
    expect(() => agentUserData({ joinToken: '' })).toThrow(/joinToken is empty/);
    expect(() => agentUserData({ joinToken: 'a\nsystemctl stop sshd' })).toThrow(/control characters/);
    expect(() => agentUserData({ joinToken: 'x'.repeat(5000) })).toThrow(/longer than/);
    expect(() => agentUserData({ joinToken: 't', dataDir: 'relative' })).toThrow(/dataDir/);
    expect(() => agentUserData({ joinToken: 't', dataDir: '/var/lib/a b' })).toThrow(/dataDir/);
    expect(() => agentUserData({ joinToken: 't', installCommand: '  ' })).toThrow(/installCommand/);
  });

  it('installs the agent with the install command when it is missing', () => {
    const tools = join(dir, 'tools');
    mkdirSync(tools);
    writeStub('gpufleet-agent', join(dir, 'agent.log'), tools);
    // The install command "installs" by copying the stub onto the PATH.
    const installCommand = `cp ${shellQuote(join(tools, 'gpufleet-agent'))} ${shellQuote(bin)}/ && echo "installed it's fine" > ${shellQuote(join(dir, 'install.log'))}`;
    const result = run(agentUserData({ joinToken: 'tok', installCommand, ...paths() }));
    expect(result).toEqual({ status: 0, stderr: '' });
    expect(readFileSync(join(dir, 'install.log'), 'utf8')).toBe("installed it's fine\n");
    expect(calls(join(dir, 'agent.log'))).toHaveLength(1);
  });

  it('does not install again when the agent is there, and does not spend the token twice', () => {
    writeStub('gpufleet-agent', join(dir, 'agent.log'));
    const { dataDir, unitPath } = paths();
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'node.key'), 'already joined');
    const result = run(agentUserData({ joinToken: 'tok', installCommand: `touch ${shellQuote(join(dir, 'installed'))}`, dataDir, unitPath }));
    expect(result.status).toBe(0);
    expect(existsSync(join(dir, 'installed'))).toBe(false);
    expect(calls(join(dir, 'agent.log'))).toEqual([]);
    expect(calls(join(dir, 'systemctl.log'))).toHaveLength(2);
  });

  it('stops at the first failure (a failed join starts nothing)', () => {
    const path = join(bin, 'gpufleet-agent');
    writeFileSync(path, '#!/bin/sh\necho "join refused" >&2\nexit 3\n');
    chmodSync(path, 0o755);
    const result = run(agentUserData({ joinToken: 'tok', ...paths() }));
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('join refused');
    expect(calls(join(dir, 'systemctl.log'))).toEqual([]);
  });

  it('fails clearly when the install command does not provide the agent', () => {
    const result = run(agentUserData({ joinToken: 'tok', installCommand: 'true', ...paths() }));
    expect(result.status).not.toBe(0);
    expect(calls(join(dir, 'systemctl.log'))).toEqual([]);
  });
});

describe('shellQuote', () => {
  it('round-trips through bash', () => {
    for (const word of ["it's", '$(x)', '`x`', '"', '\\', ' a  b ', '', "''"]) {
      expect(execFileSync('bash', ['-c', `printf %s ${shellQuote(word)}`], { encoding: 'utf8' })).toBe(word);
    }
  });
  it('refuses NUL', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
