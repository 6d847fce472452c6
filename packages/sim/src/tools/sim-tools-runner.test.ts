import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { OutputChunk, RunRequest } from '@gpufleet/agent';
import { FakeHardwareBackend } from '../fake-backend.js';
import type { SimGpuModel } from '../gpu-models.js';
import { SimToolsRunner } from './sim-tools-runner.js';

const FIXTURES = '/work/shared/fixtures';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function host(model: SimGpuModel, gpuCount = 8) {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-sim-tools-'));
  dirs.push(dir);
  const backend = new FakeHardwareBackend({
    hostname: `sim-${model.toLowerCase()}-001`,
    model,
    gpuCount,
    seed: 5,
    clock: { now: () => Date.UTC(2026, 0, 1, 12) },
  });
  return { backend, runner: new SimToolsRunner({ backend, dir: join(dir, 'bin') }) };
}

/** Runs a command the way the agent does and collects its output. */
async function run(runner: SimToolsRunner, command: RunRequest['command']) {
  const out: OutputChunk[] = [];
  const result = await runner.start({ command, timeoutMs: 10_000 }, { onOutput: (c) => out.push(c) }).done;
  const text = (stream: string) =>
    out
      .filter((c) => c.stream === stream)
      .map((c) => c.data)
      .join('');
  return { exitCode: result.exitCode, stdout: text('stdout'), stderr: text('stderr') };
}

describe('simulated vendor tools', () => {
  it('`nvidia-smi -L` lists the backend GPUs with their UUIDs, in the recorded format', async () => {
    const { backend, runner } = host('H100');
    const r = await run(runner, { kind: 'argv', argv: ['nvidia-smi', '-L'] });
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(8);
    backend.gpuIds().forEach((g, i) => expect(lines[i]).toBe(`GPU ${i}: NVIDIA H100 80GB HBM3 (UUID: ${g.uuid})`));
    // The line shape of the recorded `nvidia-smi -L`.
    const recorded = readFileSync(join(FIXTURES, 'nvidia/nvidia-smi_capture_bundle__nvidia-h100-80gb-hbm3__590.48.01.txt'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('GPU 0:'))!;
    const shape = (l: string) => l.replace(/GPU-[0-9a-f-]+/, 'UUID');
    expect(shape(lines[0]!)).toBe(shape(recorded));
  });

  it('plain `nvidia-smi` prints the table with the recorded layout, through a shell too', async () => {
    const { backend, runner } = host('A100', 4);
    const r = await run(runner, { kind: 'shell', script: 'nvidia-smi | head -n 40' });
    expect(r.exitCode).toBe(0);
    const recorded = readFileSync(join(FIXTURES, 'nvidia/nvidia-smi_table__4x_A100_SXM4_555.42.02__idle.txt'), 'utf8');
    const ours = r.stdout.split('\n').filter((l) => l.startsWith('|') || l.startsWith('+'));
    const theirs = recorded.split('\n').filter((l) => l.startsWith('|') || l.startsWith('+'));
    // Same frame: every line as wide as the recording's and the same header lines.
    expect(new Set(ours.map((l) => l.length))).toEqual(new Set(theirs.map((l) => l.trimEnd().length)));
    expect(ours.slice(3, 6)).toEqual(theirs.slice(3, 6).map((l) => l.trimEnd()));
    expect(r.stdout).toMatch(/Driver Version: 555\.42\.02 +CUDA Version: 12\.5/);
    for (const g of backend.gpuIds()) expect(r.stdout).toContain(`00000000:${g.pciBusId.slice(5).toUpperCase()} Off`);
    expect(r.stdout).toMatch(/81920MiB/);
  });

  it('a GPU that fell off the bus is gone and a failing tool fails, on the next command', async () => {
    const { backend, runner } = host('L40S', 2);
    backend.dropGpu(1);
    expect((await run(runner, { kind: 'argv', argv: ['nvidia-smi', '-L'] })).stdout.trimEnd().split('\n')).toHaveLength(1);
    backend.setToolFailure('Unable to determine the device handle for GPU0000:10:00.0: Unknown Error');
    const failed = await run(runner, { kind: 'argv', argv: ['nvidia-smi', '-L'] });
    expect(failed.exitCode).toBe(18);
    expect(failed.stdout).toBe('Unable to determine the device handle for GPU0000:10:00.0: Unknown Error\n');
    backend.setToolFailure(null);
    backend.restoreGpu(1);
    expect((await run(runner, { kind: 'argv', argv: ['nvidia-smi', '-L'] })).stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('says what is simulated for other arguments; AMD hosts have amd-smi and rocm-smi, not nvidia-smi', async () => {
    const { runner } = host('H100', 1);
    const other = await run(runner, { kind: 'argv', argv: ['nvidia-smi', '-q', '-x'] });
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toMatch(/only 'nvidia-smi -L'.* are simulated/);
    const amd = host('MI300X', 2);
    const list = await run(amd.runner, { kind: 'argv', argv: ['amd-smi', 'list'] });
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toMatch(/^GPU: 0\n {4}BDF: 0000:[0-9a-f]{2}:00\.0\n {4}UUID: 0x[0-9a-f]{16}\n/);
    const table = await run(amd.runner, { kind: 'argv', argv: ['rocm-smi'] });
    expect(table.stdout).toMatch(/Concise Info/);
    expect(table.stdout).toMatch(/AMD Instinct MI300X/);
    const missing = await run(amd.runner, { kind: 'argv', argv: ['nvidia-smi', '-L'] });
    expect(missing.exitCode).toBe(127);
  });

  it('runs everything else as the real runner does, with the tools first on PATH', async () => {
    const { runner } = host('H100', 1);
    const r = await run(runner, { kind: 'shell', script: 'echo "$PATH"; command -v nvidia-smi' });
    expect(r.exitCode).toBe(0);
    const [path, which] = r.stdout.trimEnd().split('\n');
    expect(path).toBe(runner.path);
    expect(which).toBe(`${runner.path.split(':')[0]}/nvidia-smi`);
  });
});
