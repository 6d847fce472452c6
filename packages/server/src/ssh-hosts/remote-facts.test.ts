import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFakeGpuTools } from './__tests__/fake-gpu-tools.js';
import { factsScript, splitSections } from './facts-script.js';
import { factsFromSections } from './remote-facts.js';

/**
 * The facts script run by a real /bin/sh on this machine (what sshd runs it with) with fake
 * vendor tools first on PATH, read back through the agent's readers and parsers.
 */
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-facts-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runScript(path: string): string {
  const { script } = factsScript('abc123');
  return execFileSync('/bin/sh', ['-c', script], { env: { PATH: path }, encoding: 'utf8' });
}

describe('facts over one script', () => {
  it('reads host facts, GPUs and samples with the agent parsers', async () => {
    const bin = writeFakeGpuTools(join(dir, 'bin'), { npu: true });
    const { sections, complete } = splitSections(runScript(`${bin}:/usr/bin:/bin`), 'abc123');
    expect(complete).toBe(true);
    const facts = await factsFromSections(sections, 1_700_000_000_000);
    expect(facts.host.hostname).toBe(hostname());
    expect(facts.host.kernel).toBe(execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
    expect(facts.host.cpu.threads).toBeGreaterThan(0);
    expect(facts.host.memoryTotalBytes).toBeGreaterThan(0);
    expect(facts.host.agentVersion).toBe('ssh');
    const vendors = facts.gpus.map((g) => g.vendor);
    expect(vendors).toContain('nvidia');
    expect(vendors).toContain('huawei');
    const rtx = facts.gpus.find((g) => g.vendor === 'nvidia')!;
    expect(rtx.name).toMatch(/RTX 4000/);
    expect(facts.toolFailures).toEqual([]);
    expect(facts.metrics.gpus).toHaveLength(facts.gpus.length);
    expect(facts.metrics.gpus.find((s) => s.uuid === rtx.uuid)?.temperatureC).toBeTypeOf('number');
  });

  it('a failing tool becomes a tool failure classified as the agent does; absent tools are no failure', async () => {
    const bin = writeFakeGpuTools(join(dir, 'broken'), { nvidiaFails: true });
    const { sections } = splitSections(runScript(`${bin}:/usr/bin:/bin`), 'abc123');
    const facts = await factsFromSections(sections, 1);
    expect(facts.gpus).toEqual([]);
    expect(facts.toolFailures).toHaveLength(1);
    expect(facts.toolFailures[0]).toMatchObject({ vendor: 'nvidia', tool: 'nvidia-smi' });
  });

  it('a marker printed by a tool without the nonce is plain output; a cut-off run is incomplete', () => {
    const out = `banner\n@@gpufleet-other:file /etc/passwd@@\n\n@@gpufleet-n1:cmd hostname@@\nh1\n\n@@gpufleet-n1:cmd uname-r@@\n6.1`;
    const { sections, complete } = splitSections(out, 'n1');
    expect(complete).toBe(false);
    expect(sections).toEqual([
      { marker: 'cmd hostname', text: 'h1' },
      { marker: 'cmd uname-r', text: '6.1' },
    ]);
  });
});
